#pragma once

#include <QPointF>
#include <QVector>
#include <QWidget>

#include <cstdint>

class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;

namespace leantune {

class PruneScopeField;

// Edits a pruning schedule (run/runconfig.h's prune spec) and its scope, with a preview of the
// target sparsity over the run's steps: the schedule function, and the target the engine applies
// (it changes only at mask-update steps; 0 before the first one).
//
// The steps (begin, end, frequency) follow the run while they have not been chosen: setTotalSteps()
// then fits them to the run (fittedSteps()). They stop following when the user edits one of them or
// when setSpec() is given a schedule other than the one shown; setStepsFollowRun() sets it
// directly.
class PruningScheduleEditor : public QWidget {
    Q_OBJECT
public:
    struct Steps {
        std::int64_t begin = 0;
        std::int64_t end = -1;
        std::int64_t frequency = 100;
    };
    // Steps that fit a run of TOTAL optimizer steps: begin 0, about 20 mask updates over the run
    // (frequency total/20, 1 to 100), and for a polynomial decay the final sparsity reached at an
    // update step about two thirds into the run (a constant sparsity runs to the end, -1).
    static Steps fittedSteps(std::int64_t total, bool polynomial);

    explicit PruningScheduleEditor(QWidget *parent = nullptr);

    // SPEC as parsed by PruningSchedule::parse; one that does not parse shows "None".
    void setSpec(const QString &spec);
    QString spec() const;
    // prune_scope and prune_granularity, filled by the owner from the field table.
    PruneScopeField *scopeField() const { return m_scope; }
    QComboBox *granularityBox() const { return m_granularity; }

    // The run's length in optimizer steps, 0 when unknown (the preview then shows the schedule's
    // own span). Refits the steps while they follow the run.
    void setTotalSteps(std::int64_t total);
    bool stepsFollowRun() const { return m_followRun; }
    void setStepsFollowRun(bool follow);

    QVector<QPointF> scheduleCurve() const { return m_scheduleCurve; }
    QVector<QPointF> appliedCurve() const { return m_appliedCurve; }
    QCustomPlot *previewPlot() const { return m_preview; }

Q_SIGNALS:
    void changed(); // the user changed the schedule (not emitted by the setters)

private:
    void userEdit(bool steps);
    void fitSteps();
    void updateFields();
    void updatePreview();

    QComboBox *m_kind, *m_granularity;
    PruneScopeField *m_scope;
    QDoubleSpinBox *m_initial, *m_final, *m_power;
    QSpinBox *m_begin, *m_end, *m_frequency;
    QLabel *m_initialLabel, *m_finalLabel, *m_powerLabel;
    QCustomPlot *m_preview;
    QVector<QPointF> m_scheduleCurve, m_appliedCurve;
    std::int64_t m_total = 0;
    bool m_followRun = true;
    bool m_setting = false; // the widgets are being set by this class, not by the user
};

} // namespace leantune
