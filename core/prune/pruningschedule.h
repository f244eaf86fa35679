#pragma once

#include <QString>

#include <cstdint>
#include <optional>

namespace leantune {

// Pruning schedules with TensorFlow Model Optimization semantics (see DESIGN.md). Steps count
// optimizer steps from 1. A plain value type.
class PruningSchedule {
public:
    enum class Kind { None, PolynomialDecay, ConstantSparsity };

    PruningSchedule() = default; // None: never prunes
    static PruningSchedule polynomialDecay(double initial, double final, std::int64_t begin,
        std::int64_t end, double power = 3.0, std::int64_t frequency = 100);
    static PruningSchedule constantSparsity(
        double target, std::int64_t begin, std::int64_t end = -1, std::int64_t frequency = 100);

    // Parses "none", "polynomial:INIT:FINAL:BEGIN:END[:POWER[:FREQ]]",
    // "constant:S:BEGIN[:END[:FREQ]]". Returns std::nullopt and sets *error for malformed specs,
    // sparsities outside [0, 1), final < initial, end < begin (end must be ≥ begin for polynomial),
    // begin < 0, frequency < 1, power ≤ 0.
    static std::optional<PruningSchedule> parse(const QString &spec, QString *error);
    // Checks the parameters of a constructed schedule the same way parse() does: false and the
    // reason in *ERROR when they are not valid.
    bool validate(QString *error = nullptr) const;

    Kind kind() const { return m_kind; }
    bool isNone() const { return m_kind == Kind::None; }
    // The schedule function at an optimizer step (0 for None; before begin: initial for
    // polynomial, the target for constant). It is not what has been applied: the trainer reports
    // MagnitudePruner::targetSparsity(), which stays 0 until the first mask update.
    // Polynomial with end == begin jumps to final at begin.
    double sparsityAt(std::int64_t step) const;
    // Whether masks are updated at this step (begin ≤ step, step ≤ end or end < 0,
    // (step − begin) % frequency == 0).
    bool shouldUpdate(std::int64_t step) const;
    // The first step ≥ 1 where shouldUpdate() holds, or -1 when there is none (None, or no step
    // begin + k·frequency up to end).
    std::int64_t firstUpdateStep() const;
    // Whether a run of TOTALSTEPS steps updates the masks at least once (true for None): false +
    // *WHY when it begins at or after the last step or updates first after it, which would train
    // the run dense without a word.
    bool updatesWithin(std::int64_t totalSteps, QString *why) const;
    double finalSparsity() const;
    QString toSpec() const; // round-trips through parse()

    double initial() const { return m_initial; }
    double final() const { return m_final; }
    std::int64_t begin() const { return m_begin; }
    std::int64_t end() const { return m_end; }
    double power() const { return m_power; }
    std::int64_t frequency() const { return m_frequency; }

private:
    QString problem() const; // the first invalid parameter, empty when valid
    Kind m_kind = Kind::None;
    double m_initial = 0.0;
    double m_final = 0.0;
    std::int64_t m_begin = 0;
    std::int64_t m_end = -1;
    double m_power = 3.0;
    std::int64_t m_frequency = 100;
};

} // namespace leantune
