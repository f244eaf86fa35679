#include "prune/pruningschedule.h"

#include <QLocale>
#include <QStringList>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QString numberText(double value)
{
    // Shortest text that parses back to the same double: toSpec() round-trips exactly.
    return QString::number(value, 'g', QLocale::FloatingPointShortest);
}

bool isSparsity(double s)
{
    return std::isfinite(s) && s >= 0.0 && s < 1.0;
}

// Field parsers for parse(): false (with *error set) when the text is not a number.
bool parseReal(const QString &text, const QString &what, double *value, QString *error)
{
    bool ok = false;
    const double v = text.trimmed().toDouble(&ok);
    if (!ok || !std::isfinite(v)) {
        *error = QStringLiteral("%1 '%2' is not a number").arg(what, text);
        return false;
    }
    *value = v;
    return true;
}

bool parseStep(const QString &text, const QString &what, std::int64_t *value, QString *error)
{
    bool ok = false;
    const qlonglong v = text.trimmed().toLongLong(&ok);
    if (!ok) {
        *error = QStringLiteral("%1 '%2' is not an integer").arg(what, text);
        return false;
    }
    *value = static_cast<std::int64_t>(v);
    return true;
}

} // namespace

PruningSchedule PruningSchedule::polynomialDecay(double initial, double final, std::int64_t begin,
    std::int64_t end, double power, std::int64_t frequency)
{
    PruningSchedule s;
    s.m_kind = Kind::PolynomialDecay;
    s.m_initial = initial;
    s.m_final = final;
    s.m_begin = begin;
    s.m_end = end;
    s.m_power = power;
    s.m_frequency = frequency;
    return s;
}

PruningSchedule PruningSchedule::constantSparsity(
    double target, std::int64_t begin, std::int64_t end, std::int64_t frequency)
{
    // The target is kept in both initial and final, so initial()/final() read it back too.
    PruningSchedule s;
    s.m_kind = Kind::ConstantSparsity;
    s.m_initial = target;
    s.m_final = target;
    s.m_begin = begin;
    s.m_end = end;
    s.m_frequency = frequency;
    return s;
}

bool PruningSchedule::validate(QString *error) const
{
    const QString reason = problem();
    if (error && !reason.isEmpty())
        *error = reason;
    return reason.isEmpty();
}

QString PruningSchedule::problem() const
{
    switch (m_kind) {
    case Kind::None:
        return {};
    case Kind::PolynomialDecay:
        if (!isSparsity(m_initial))
            return QStringLiteral("initial sparsity must be in [0, 1), got %1")
                .arg(numberText(m_initial));
        if (!isSparsity(m_final))
            return QStringLiteral("final sparsity must be in [0, 1), got %1")
                .arg(numberText(m_final));
        if (m_final < m_initial)
            return QStringLiteral("final sparsity (%1) must be >= initial sparsity (%2)")
                .arg(numberText(m_final), numberText(m_initial));
        if (m_begin < 0)
            return QStringLiteral("begin step must be >= 0, got %1").arg(m_begin);
        if (m_end < m_begin)
            return QStringLiteral("end step (%1) must be >= begin step (%2)")
                .arg(m_end)
                .arg(m_begin);
        if (!(std::isfinite(m_power) && m_power > 0.0))
            return QStringLiteral("power must be > 0, got %1").arg(numberText(m_power));
        break;
    case Kind::ConstantSparsity:
        if (!isSparsity(m_final))
            return QStringLiteral("target sparsity must be in [0, 1), got %1")
                .arg(numberText(m_final));
        if (m_begin < 0)
            return QStringLiteral("begin step must be >= 0, got %1").arg(m_begin);
        if (m_end != -1 && m_end < m_begin)
            return QStringLiteral("end step (%1) must be >= begin step (%2), or -1 for no end")
                .arg(m_end)
                .arg(m_begin);
        break;
    }
    if (m_frequency < 1)
        return QStringLiteral("frequency must be >= 1, got %1").arg(m_frequency);
    return {};
}

std::optional<PruningSchedule> PruningSchedule::parse(const QString &spec, QString *error)
{
    QString localError;
    QString &err = error ? *error : localError;
    const auto fail = [&err](const QString &message) -> std::optional<PruningSchedule> {
        err = message;
        return std::nullopt;
    };

    const QStringList fields = spec.trimmed().split(QLatin1Char(':'));
    const QString kind = fields.front().trimmed().toLower();
    const qsizetype values = fields.size() - 1;

    if (kind == QLatin1String("none")) {
        if (values != 0)
            return fail(QStringLiteral("'none' takes no parameters: '%1'").arg(spec));
        err.clear();
        return PruningSchedule();
    }

    if (kind == QLatin1String("polynomial")) {
        if (values < 4 || values > 6)
            return fail(QStringLiteral("wrong number of fields in '%1' (expected "
                                       "polynomial:INIT:FINAL:BEGIN:END[:POWER[:FREQ]])")
                            .arg(spec));
        double initial = 0.0, final = 0.0, power = 3.0;
        std::int64_t begin = 0, end = 0, frequency = 100;
        if (!parseReal(fields[1], QStringLiteral("initial sparsity"), &initial, &err)
            || !parseReal(fields[2], QStringLiteral("final sparsity"), &final, &err)
            || !parseStep(fields[3], QStringLiteral("begin step"), &begin, &err)
            || !parseStep(fields[4], QStringLiteral("end step"), &end, &err)
            || (values >= 5 && !parseReal(fields[5], QStringLiteral("power"), &power, &err))
            || (values >= 6
                && !parseStep(fields[6], QStringLiteral("frequency"), &frequency, &err)))
            return std::nullopt;
        const PruningSchedule s = polynomialDecay(initial, final, begin, end, power, frequency);
        if (QString problem; !s.validate(&problem))
            return fail(problem);
        err.clear();
        return s;
    }

    if (kind == QLatin1String("constant")) {
        if (values < 2 || values > 4)
            return fail(QStringLiteral("wrong number of fields in '%1' (expected "
                                       "constant:S:BEGIN[:END[:FREQ]])")
                            .arg(spec));
        double target = 0.0;
        std::int64_t begin = 0, end = -1, frequency = 100;
        if (!parseReal(fields[1], QStringLiteral("target sparsity"), &target, &err)
            || !parseStep(fields[2], QStringLiteral("begin step"), &begin, &err)
            || (values >= 3 && !parseStep(fields[3], QStringLiteral("end step"), &end, &err))
            || (values >= 4
                && !parseStep(fields[4], QStringLiteral("frequency"), &frequency, &err)))
            return std::nullopt;
        const PruningSchedule s = constantSparsity(target, begin, end, frequency);
        if (QString problem; !s.validate(&problem))
            return fail(problem);
        err.clear();
        return s;
    }

    return fail(
        QStringLiteral("unknown pruning schedule kind '%1' (use none, polynomial or constant)")
            .arg(fields.front().trimmed()));
}

double PruningSchedule::sparsityAt(std::int64_t step) const
{
    switch (m_kind) {
    case Kind::None:
        return 0.0;
    case Kind::ConstantSparsity:
        return m_final;
    case Kind::PolynomialDecay: {
        double p = 0.0;
        if (m_end > m_begin) {
            p = double(step - m_begin) / double(m_end - m_begin);
            p = std::clamp(p, 0.0, 1.0);
        } else {
            // end == begin: the schedule jumps to final at begin (avoids 0/0).
            p = step >= m_begin ? 1.0 : 0.0;
        }
        return m_final + (m_initial - m_final) * std::pow(1.0 - p, m_power);
    }
    }
    return 0.0;
}

bool PruningSchedule::shouldUpdate(std::int64_t step) const
{
    if (m_kind == Kind::None || m_frequency < 1)
        return false;
    const bool inRange = step >= m_begin && (m_end < 0 || step <= m_end);
    return inRange && (step - m_begin) % m_frequency == 0;
}

std::int64_t PruningSchedule::firstUpdateStep() const
{
    if (m_kind == Kind::None || m_frequency < 1)
        return -1;
    // Steps count from 1: a begin of 0 or less first updates at the first begin + k·frequency ≥ 1.
    const std::int64_t first = m_begin >= 1
        ? m_begin
        : m_begin + ((1 - m_begin + m_frequency - 1) / m_frequency) * m_frequency;
    return m_end >= 0 && first > m_end ? -1 : first;
}

bool PruningSchedule::updatesWithin(std::int64_t totalSteps, QString *why) const
{
    if (m_kind == Kind::None)
        return true;
    const std::int64_t first = firstUpdateStep();
    QString problem;
    if (m_begin >= totalSteps)
        problem = QStringLiteral("pruning begins at step %1, but the run has only %2 steps: lower "
                                 "the begin step or train longer")
                      .arg(m_begin)
                      .arg(totalSteps);
    else if (first < 0)
        problem = QStringLiteral("the masks would never be updated: no step begin + a multiple of "
                                 "frequency %1 lies between begin %2 and end %3 - lower the "
                                 "frequency")
                      .arg(m_frequency)
                      .arg(m_begin)
                      .arg(m_end);
    else if (first > totalSteps)
        problem = QStringLiteral("the masks would never be updated in this run: the first update "
                                 "is at step %1 (begin %2 + a multiple of frequency %3), the run "
                                 "has %4 steps - lower the frequency or the begin step")
                      .arg(first)
                      .arg(m_begin)
                      .arg(m_frequency)
                      .arg(totalSteps);
    if (problem.isEmpty())
        return true;
    if (why)
        *why = problem;
    return false;
}

double PruningSchedule::finalSparsity() const
{
    return m_kind == Kind::None ? 0.0 : m_final;
}

QString PruningSchedule::toSpec() const
{
    switch (m_kind) {
    case Kind::None:
        break;
    case Kind::PolynomialDecay:
        return QStringLiteral("polynomial:%1:%2:%3:%4:%5:%6")
            .arg(numberText(m_initial), numberText(m_final))
            .arg(m_begin)
            .arg(m_end)
            .arg(numberText(m_power))
            .arg(m_frequency);
    case Kind::ConstantSparsity:
        return QStringLiteral("constant:%1:%2:%3:%4")
            .arg(numberText(m_final))
            .arg(m_begin)
            .arg(m_end)
            .arg(m_frequency);
    }
    return QStringLiteral("none");
}

} // namespace leantune
