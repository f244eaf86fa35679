#include "widgets/dialogs/pruningscheduleeditor.h"

#include "widgets/charts/qcp.h"
#include "widgets/dialogs/numberspinbox.h"
#include "widgets/dialogs/prunescopefield.h"
#include "prune/pruningschedule.h"

#include <QComboBox>
#include <QFormLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

namespace leantune {

PruningScheduleEditor::Steps PruningScheduleEditor::fittedSteps(std::int64_t total, bool polynomial)
{
    Steps s;
    s.frequency = std::clamp<std::int64_t>(total / 20, 1, 100);
    if (polynomial) {
        // An update step, so that the final sparsity is applied (updates stop after end).
        const std::int64_t updates = std::llround(2.0 * double(total) / 3.0 / double(s.frequency));
        s.end = std::max<std::int64_t>(1, updates) * s.frequency;
    }
    return s;
}

PruningScheduleEditor::PruningScheduleEditor(QWidget *parent)
    : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto *form = new QFormLayout;
    layout->addLayout(form);
    m_kind = new QComboBox(this);
    m_kind->setObjectName(QStringLiteral("pruneKind"));
    m_kind->addItem(tr("None"), QStringLiteral("none"));
    m_kind->addItem(tr("Polynomial decay"), QStringLiteral("polynomial"));
    m_kind->addItem(tr("Constant sparsity"), QStringLiteral("constant"));
    form->addRow(tr("Schedule:"), m_kind);
    const auto number = [this](const char *name, double max) {
        auto *box = new NumberSpinBox(this);
        box->setObjectName(QLatin1String(name));
        box->setRange(0.0, max);
        box->setSingleStep(0.05);
        return box;
    };
    const auto step = [this](const char *name, int min) {
        auto *box = new QSpinBox(this);
        box->setObjectName(QLatin1String(name));
        box->setRange(min, std::numeric_limits<int>::max());
        return box;
    };
    m_initial = number("initialSparsity", 1.0);
    m_initialLabel = new QLabel(tr("Initial sparsity:"), this);
    form->addRow(m_initialLabel, m_initial);
    m_final = number("finalSparsity", 1.0);
    m_finalLabel = new QLabel(tr("Final sparsity:"), this);
    form->addRow(m_finalLabel, m_final);
    m_begin = step("beginStep", 0);
    form->addRow(tr("Begin step:"), m_begin);
    m_end = step("endStep", -1);
    m_end->setSpecialValueText(tr("end of the run")); // -1: constant sparsity to the end
    form->addRow(tr("End step:"), m_end);
    m_power = number("power", 20.0);
    m_power->setSingleStep(0.5);
    m_powerLabel = new QLabel(tr("Power:"), this);
    form->addRow(m_powerLabel, m_power);
    m_frequency = step("frequency", 0);
    m_frequency->setToolTip(tr("Masks are recomputed every this many steps from the begin step"));
    form->addRow(tr("Frequency:"), m_frequency);
    m_scope = new PruneScopeField(this);
    form->addRow(tr("Scope:"), m_scope);
    m_granularity = new QComboBox(this);
    form->addRow(tr("Granularity:"), m_granularity);
    // Before a run is known: the first-start proposal (polynomial:0.5:0.8:0:1000:3:100).
    m_initial->setValue(0.5);
    m_final->setValue(0.8);
    m_end->setValue(1000);
    m_power->setValue(3.0);
    m_frequency->setValue(100);

    m_preview = new QCustomPlot(this);
    m_preview->setObjectName(QStringLiteral("schedulePreview"));
    m_preview->setMinimumSize(360, 220);
    m_preview->plotLayout()->insertRow(0);
    m_preview->plotLayout()->addElement(
        0, 0, new QCPTextElement(m_preview, tr("Target sparsity over the run")));
    m_preview->xAxis->setLabel(tr("optimizer step"));
    m_preview->yAxis->setLabel(tr("sparsity (%)"));
    m_preview->yAxis->setRange(0, 100);
    auto *fn = m_preview->addGraph();
    fn->setName(tr("schedule"));
    fn->setPen(QPen(QColor(150, 150, 150), 1.2, Qt::DashLine));
    auto *applied = m_preview->addGraph();
    applied->setName(tr("applied at mask updates"));
    applied->setPen(QPen(QColor(31, 119, 180), 2.0));
    applied->setLineStyle(QCPGraph::lsStepLeft);
    m_preview->legend->setVisible(true);
    m_preview->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    layout->addWidget(m_preview, 1);

    connect(m_kind, &QComboBox::currentIndexChanged, this, [this] { userEdit(false); });
    for (QDoubleSpinBox *box : { m_initial, m_final, m_power })
        connect(box, &QDoubleSpinBox::valueChanged, this, [this] { userEdit(false); });
    for (QSpinBox *box : { m_begin, m_end, m_frequency })
        connect(box, &QSpinBox::valueChanged, this, [this] { userEdit(true); });
    updateFields();
    updatePreview();
}

void PruningScheduleEditor::userEdit(bool steps)
{
    if (m_setting)
        return;
    if (steps)
        m_followRun = false;
    fitSteps(); // a change of kind refits the end while the steps follow the run
    updateFields();
    updatePreview();
    Q_EMIT changed();
}

void PruningScheduleEditor::setSpec(const QString &text)
{
    if (text == spec())
        return; // the schedule shown, and whether its steps follow the run, stay
    const std::optional<PruningSchedule> s = PruningSchedule::parse(text, nullptr);
    const bool none = !s || s->isNone();
    m_setting = true;
    m_kind->setCurrentIndex(none ? 0 : s->kind() == PruningSchedule::Kind::PolynomialDecay ? 1 : 2);
    if (!none) {
        if (s->kind() == PruningSchedule::Kind::PolynomialDecay) {
            m_initial->setValue(s->initial());
            m_power->setValue(s->power());
        }
        m_final->setValue(s->final());
        m_begin->setValue(
            int(std::clamp<std::int64_t>(s->begin(), m_begin->minimum(), m_begin->maximum())));
        m_end->setValue(
            int(std::clamp<std::int64_t>(s->end(), m_end->minimum(), m_end->maximum())));
        m_frequency->setValue(
            int(std::clamp<std::int64_t>(s->frequency(), 0, m_frequency->maximum())));
    }
    m_setting = false;
    m_followRun = none; // no schedule: when one is chosen, its steps fit the run
    fitSteps();
    updateFields();
    updatePreview();
}

QString PruningScheduleEditor::spec() const
{
    const QString kind = m_kind->currentData().toString();
    if (kind == QLatin1String("polynomial"))
        return PruningSchedule::polynomialDecay(m_initial->value(), m_final->value(),
            m_begin->value(), m_end->value(), m_power->value(), m_frequency->value())
            .toSpec();
    if (kind == QLatin1String("constant"))
        return PruningSchedule::constantSparsity(
            m_final->value(), m_begin->value(), m_end->value(), m_frequency->value())
            .toSpec();
    return QStringLiteral("none");
}

void PruningScheduleEditor::setTotalSteps(std::int64_t total)
{
    if (total == m_total)
        return;
    m_total = total;
    fitSteps();
    updatePreview();
}

void PruningScheduleEditor::setStepsFollowRun(bool follow)
{
    m_followRun = follow;
    fitSteps();
    updatePreview();
}

void PruningScheduleEditor::fitSteps()
{
    if (!m_followRun || m_total <= 0)
        return;
    const Steps s
        = fittedSteps(m_total, m_kind->currentData().toString() != QLatin1String("constant"));
    m_setting = true;
    m_begin->setValue(int(s.begin));
    m_end->setValue(int(std::min<std::int64_t>(s.end, m_end->maximum())));
    m_frequency->setValue(int(s.frequency));
    m_setting = false;
}

void PruningScheduleEditor::updateFields()
{
    const QString kind = m_kind->currentData().toString();
    const bool poly = kind == QLatin1String("polynomial");
    const bool constant = kind == QLatin1String("constant");
    for (QWidget *w :
        std::initializer_list<QWidget *> { m_initial, m_initialLabel, m_power, m_powerLabel })
        w->setVisible(poly);
    for (QWidget *w : std::initializer_list<QWidget *> {
             m_final, m_begin, m_end, m_frequency, m_scope, m_granularity })
        w->setEnabled(poly || constant);
    m_finalLabel->setText(constant ? tr("Target sparsity:") : tr("Final sparsity:"));
    m_preview->setEnabled(poly || constant);
}

void PruningScheduleEditor::updatePreview()
{
    m_scheduleCurve.clear();
    m_appliedCurve.clear();
    const auto schedule = PruningSchedule::parse(spec(), nullptr);
    std::int64_t total = m_total;
    if (total <= 0 && schedule && !schedule->isNone()) // no run yet: the schedule's own span
        total = std::max<std::int64_t>(
            schedule->end() > 0 ? schedule->end() + schedule->begin() / 4 + 10 : 0,
            schedule->begin() + 1000);
    if (schedule && !schedule->isNone() && total > 0) {
        // Every step when the run is short; else about 2000 evenly spaced steps plus every update
        // step (so the applied curve's jumps are exact).
        const std::int64_t stride = std::max<std::int64_t>(1, total / 2000);
        double applied = 0.0;
        for (std::int64_t step = 1; step <= total; ++step) {
            const bool update = schedule->shouldUpdate(step);
            if (update)
                applied = schedule->sparsityAt(step);
            if (update || step % stride == 0 || step == 1 || step == total) {
                m_scheduleCurve.append(QPointF(double(step), schedule->sparsityAt(step)));
                m_appliedCurve.append(QPointF(double(step), applied));
            }
        }
    }
    QVector<double> x, y, ax, ay;
    for (const QPointF &p : std::as_const(m_scheduleCurve)) {
        x << p.x();
        y << 100.0 * p.y();
    }
    for (const QPointF &p : std::as_const(m_appliedCurve)) {
        ax << p.x();
        ay << 100.0 * p.y();
    }
    m_preview->graph(0)->setData(x, y, true);
    m_preview->graph(1)->setData(ax, ay, true);
    m_preview->xAxis->setRange(0, std::max<double>(1.0, double(total)));
    m_preview->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace leantune
