#include "widgets/dialogs/batchsizefinderfield.h"

#include "widgets/dialogs/wrappedlabel.h"
#include "metrics/bytesize.h"
#include "metrics/memoryprobe.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QLayout>
#include <QProgressBar>
#include <QPushButton>
#include <QtConcurrent/QtConcurrentRun>

namespace leantune {

BatchSizeFinderField::BatchSizeFinderField(QWidget *parent)
    : QWidget(parent)
    , m_button(new QPushButton(tr("Find..."), this))
    , m_busy(new QProgressBar(this))
    , m_note(new QLabel(parent))
{
    m_button->setObjectName(QStringLiteral("findBatchSize"));
    m_button->setAutoDefault(false);
    m_button->setToolTip(
        tr("Find the largest batch that fits in memory on the chosen device (probes "
           "the model with a few short training steps)"));
    m_busy->setRange(0, 0);
    m_busy->setMaximumWidth(80);
    m_busy->setTextVisible(false);
    m_busy->hide();
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_busy);
    layout->addWidget(m_button);
    m_note->setObjectName(QStringLiteral("batchNote"));
    m_note->setWordWrap(true);
    m_note->hide();
    connect(m_button, &QPushButton::clicked, this, &BatchSizeFinderField::findRequested);
    connect(&m_finder, &QFutureWatcherBase::finished, this, [this] { done(m_finder.result()); });
}

BatchSizeFinderField::~BatchSizeFinderField()
{
    m_finder.disconnect(this);
    m_cancel = true;
    m_finder.waitForFinished();
}

void BatchSizeFinderField::find(const RunConfig &config, qint64 maxSamples)
{
    if (isRunning())
        return;
    m_report.reset();
    m_cancel = false;
    const bool cpu = config.device == QLatin1String("cpu")
        || (config.device == QLatin1String("auto") && cudaDeviceCount() == 0);
    setNote(cpu ? tr("probing memory with a few training steps on the CPU...")
                : tr("probing memory, then short training trials on %1...").arg(config.device),
        false);
    m_busy->show();
    m_button->setEnabled(false);
    Q_EMIT busyChanged(true);
    const std::atomic_bool *cancel = &m_cancel; // the destructor waits for the worker
    m_finder.setFuture(QtConcurrent::run([config, maxSamples, cancel] {
        Result r;
        r.report = BatchSizeFinder::find(config, maxSamples, &r.error, cancel);
        return r;
    }));
}

void BatchSizeFinderField::done(const Result &result)
{
    m_busy->hide();
    m_button->setEnabled(true);
    m_report = result.report;
    if (!result.report) {
        setNote(tr("No batch size found: %1").arg(result.error), true);
    } else {
        const BatchSizeReport &r = *result.report;
        QString note = r.measured
            ? tr("fits: measured peak %1, predicted %2 of %3")
                  .arg(formatBytes(r.search.peakBytes), formatBytes(r.predictedPeakBytes),
                      formatBytes(r.search.capacityBytes))
            : tr("fits: predicted peak %1 of %2")
                  .arg(formatBytes(r.predictedPeakBytes), formatBytes(r.search.capacityBytes));
        note += r.capText();
        setNote(note, false);
        m_note->setToolTip(tr("batch %1 on %2; limit %3 (%4 % margin); %n trial(s)", nullptr,
            int(r.search.trials.size()))
                               .arg(r.search.batchSize)
                               .arg(r.plan.device, formatBytes(r.search.limitBytes))
                               .arg(r.plan.margin * 100.0, 0, 'f', 0));
    }
    Q_EMIT busyChanged(false);
    Q_EMIT found(result.report.has_value());
}

void BatchSizeFinderField::setNote(const QString &text, bool error)
{
    m_note->setStyleSheet(error ? QStringLiteral("QLabel { color: #b00020; }") : QString());
    m_note->setText(text);
    m_note->setToolTip(QString());
    m_note->show();
    reserveWrappedLines(m_note); // the note spans its group box's form
}

QString BatchSizeFinderField::noteText() const
{
    return m_note->isHidden() ? QString() : m_note->text();
}

void BatchSizeFinderField::batchChanged(int batch)
{
    if (m_report && batch != m_report->search.batchSize && !isRunning())
        m_note->hide();
}

} // namespace leantune
