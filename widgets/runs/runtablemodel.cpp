#include "widgets/runs/runtablemodel.h"

#include <QBrush>
#include <QColor>
#include <QDir>
#include <QFileInfo>
#include <QLocale>

#include <algorithm>

namespace leantune {

RunTableModel::RunTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void RunTableModel::setRuns(const QVector<StoredRun> &runs)
{
    // The same runs in the same order change in place: views keep their selection and scrolling.
    if (!runs.isEmpty()
        && std::equal(runs.begin(), runs.end(), m_runs.begin(), m_runs.end(),
            [](const StoredRun &a, const StoredRun &b) { return a.id == b.id; })) {
        m_runs = runs;
        Q_EMIT dataChanged(index(0, 0), index(int(m_runs.size()) - 1, ColumnCount - 1));
        updateSets();
        return;
    }
    beginResetModel();
    m_runs = runs;
    endResetModel();
    updateSets(); // after the reset: views and testers see a consistent model
}

void RunTableModel::updateSets()
{
    int sets = 0;
    for (const StoredRun &run : std::as_const(m_runs))
        sets |= accuracySet(run) == AccuracySet::Test     ? kTest
            : accuracySet(run) == AccuracySet::Validation ? kValidation
                                                          : 0;
    if (sets == m_sets)
        return;
    m_sets = sets;
    Q_EMIT headerDataChanged(Qt::Horizontal, AccuracyColumn, AccuracyColumn);
    if (!m_runs.isEmpty()) // a cell names its set only when the sets are mixed
        Q_EMIT dataChanged(index(0, AccuracyColumn), index(int(m_runs.size()) - 1, AccuracyColumn));
}

const StoredRun *RunTableModel::runAt(int row) const
{
    return row >= 0 && row < m_runs.size() ? &m_runs[row] : nullptr;
}

int RunTableModel::rowOf(qint64 runId) const
{
    for (int i = 0; i < m_runs.size(); ++i)
        if (m_runs[i].id == runId)
            return i;
    return -1;
}

int RunTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_runs.size());
}
int RunTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

qint64 RunTableModel::peakMemory(const StoredRun &run)
{
    if (!run.hasSummary)
        return -1;
    return run.summary.peakDeviceBytes >= 0 ? run.summary.peakDeviceBytes
                                            : run.summary.peakHostRssBytes;
}

double RunTableModel::accuracy(const StoredRun &run)
{
    if (!run.hasSummary)
        return -1;
    return run.summary.testAccuracy >= 0 ? run.summary.testAccuracy : run.summary.valAccuracy;
}

RunTableModel::AccuracySet RunTableModel::accuracySet(const StoredRun &run)
{
    if (!run.hasSummary)
        return AccuracySet::None;
    return run.summary.testAccuracy >= 0 ? AccuracySet::Test
        : run.summary.valAccuracy >= 0   ? AccuracySet::Validation
                                         : AccuracySet::None;
}

QVariant RunTableModel::data(const QModelIndex &index, int role) const
{
    const StoredRun *r = index.isValid() && index.model() == this ? runAt(index.row()) : nullptr;
    if (!r)
        return {};
    const QLocale locale;
    const double acc = accuracy(*r);
    const qint64 peak = peakMemory(*r);
    const double sparsity = r->hasSummary ? r->summary.finalSparsity : r->targetSparsity();
    if (role == RunIdRole)
        return r->id;
    if (role == SortRole) {
        switch (index.column()) {
        case DateColumn:
            return r->created;
        case ModelColumn:
            return r->config.model.name;
        case BatchColumn:
            return r->config.batchSize;
        case SparsityColumn:
            return sparsity;
        case AccuracyColumn:
            return acc;
        case ThroughputColumn:
            return r->hasSummary ? r->summary.imagesPerSec : -1.0;
        case PeakMemoryColumn:
            return peak;
        case StatusColumn:
            return r->status;
        case FolderColumn:
            return r->config.outDir;
        }
        return {};
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case DateColumn:
            return locale.toString(r->created.toLocalTime(), QLocale::ShortFormat);
        case ModelColumn:
            return QStringLiteral("%1 %2×%2×%3")
                .arg(r->config.model.name)
                .arg(r->config.model.inputSize)
                .arg(r->config.model.channels);
        case BatchColumn:
            return r->config.batchSize;
        case SparsityColumn:
            return r->hasSummary ? QStringLiteral("%1 % (target %2 %)")
                                       .arg(100.0 * r->summary.finalSparsity, 0, 'f', 1)
                                       .arg(100.0 * r->summary.targetSparsity, 0, 'f', 1)
                                 : QStringLiteral("target %1 %").arg(100.0 * sparsity, 0, 'f', 1);
        case AccuracyColumn:
            if (acc < 0)
                return QStringLiteral("-");
            if (mixedSets())
                return accuracySet(*r) == AccuracySet::Test
                    ? tr("%1 % test").arg(100.0 * acc, 0, 'f', 2)
                    : tr("%1 % val.").arg(100.0 * acc, 0, 'f', 2);
            return QStringLiteral("%1 %").arg(100.0 * acc, 0, 'f', 2);
        case ThroughputColumn:
            return r->hasSummary ? locale.toString(r->summary.imagesPerSec, 'f', 0)
                                 : QStringLiteral("-");
        case PeakMemoryColumn:
            return peak >= 0 ? locale.formattedDataSize(peak) : QStringLiteral("-");
        case StatusColumn:
            return r->status;
        case FolderColumn:
            return QFileInfo(r->config.outDir).fileName();
        }
        return {};
    }
    if (role == Qt::ToolTipRole) {
        QString tip
            = QDir::toNativeSeparators(r->config.outDir) + QLatin1Char('\n') + r->config.prune;
        if (!r->message.isEmpty())
            tip += QLatin1Char('\n') + r->message;
        if (index.column() == AccuracyColumn)
            tip += accuracySet(*r) == AccuracySet::Test
                ? tr("\ntest accuracy, on %1").arg(QDir::toNativeSeparators(r->config.testDir))
                : r->config.valDir.isEmpty()
                ? tr("\nvalidation accuracy (the run had no test folder), on %1 % of %2")
                      .arg(100.0 * r->config.valSplit, 0, 'g', 3)
                      .arg(QDir::toNativeSeparators(r->config.dataDir))
                : tr("\nvalidation accuracy (the run had no test folder), on %1")
                      .arg(QDir::toNativeSeparators(r->config.valDir));
        return tip;
    }
    if (role == Qt::ForegroundRole && index.column() == StatusColumn) {
        if (r->status == QLatin1String("failed"))
            return QBrush(QColor(180, 0, 30));
        if (r->status == QLatin1String("running"))
            return QBrush(QColor(0, 110, 180));
    }
    if (role == Qt::TextAlignmentRole && index.column() >= BatchColumn
        && index.column() <= PeakMemoryColumn)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation == Qt::Horizontal && role == Qt::ToolTipRole && section == AccuracyColumn)
        return tr("A run's test accuracy when it had a test folder, else its validation accuracy "
                  "(last epoch)");
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case DateColumn:
        return tr("Date");
    case ModelColumn:
        return tr("Model");
    case BatchColumn:
        return tr("Batch");
    case SparsityColumn:
        return tr("Sparsity");
    case AccuracyColumn:
        return m_sets == kTest      ? tr("Test accuracy")
            : m_sets == kValidation ? tr("Validation accuracy")
            : m_sets != 0           ? tr("Accuracy (set)")
                                    : tr("Accuracy");
    case ThroughputColumn:
        return tr("Images/s");
    case PeakMemoryColumn:
        return tr("Peak memory");
    case StatusColumn:
        return tr("Status");
    case FolderColumn:
        return tr("Folder");
    }
    return {};
}

} // namespace leantune
