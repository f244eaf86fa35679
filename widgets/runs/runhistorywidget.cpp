#include "widgets/runs/runhistorywidget.h"

#include "widgets/charts/livecharts.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/export/exportchart.h"
#include "widgets/runs/runtablemodel.h"
#include "store/runstore.h"

#include <QDialog>
#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>

namespace leantune {

namespace {

// What the table and the charts show of a run changes with these.
bool sameRun(const StoredRun &a, const StoredRun &b)
{
    return a.id == b.id && a.status == b.status && a.sampleCount == b.sampleCount
        && a.hasSummary == b.hasSummary && a.message == b.message;
}

} // namespace

RunHistoryWidget::RunHistoryWidget(RunStore *store, QWidget *parent)
    : QWidget(parent)
    , m_store(store)
    , m_model(new RunTableModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
    , m_watcher(new QFileSystemWatcher(this))
{
    m_refreshTimer.setSingleShot(true);
    m_refreshTimer.setInterval(250);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        watchStore(); // a -wal file that was created or replaced since
        refresh();
    });
    connect(
        m_watcher, &QFileSystemWatcher::fileChanged, &m_refreshTimer, qOverload<>(&QTimer::start));
    connect(m_watcher, &QFileSystemWatcher::directoryChanged, &m_refreshTimer,
        qOverload<>(&QTimer::start));
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(RunTableModel::SortRole);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto *split = new QSplitter(Qt::Vertical, this);
    auto *top = new QWidget(split);
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    m_view = new QTableView(top);
    m_view->setObjectName(QStringLiteral("runTable"));
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(RunTableModel::DateColumn, Qt::DescendingOrder);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setAlternatingRowColors(true);
    topLayout->addWidget(m_view, 1);

    auto *buttons = new QHBoxLayout;
    m_hint = new QLabel(top);
    m_hint->setObjectName(QStringLiteral("historyHint"));
    m_hint->setWordWrap(true);
    m_hint->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_delete = new QPushButton(tr("Delete from history"), top);
    m_open = new QPushButton(tr("Open run folder"), top);
    m_rerun = new QPushButton(tr("Run again..."), top);
    m_rerun->setToolTip(tr("Start a new run with the same configuration"));
    buttons->addWidget(m_hint, 1);
    buttons->addWidget(m_open);
    buttons->addWidget(m_rerun);
    m_resume = new QPushButton(tr("Resume"), top);
    m_resume->setObjectName(QStringLiteral("resumeRun"));
    m_resume->setToolTip(
        tr("Continue a stopped or failed run from its newest checkpoint, in the same folder"));
    buttons->addWidget(m_resume);
    m_evaluate = new QPushButton(tr("Evaluation"), top);
    m_evaluate->setObjectName(QStringLiteral("evaluateRun"));
    m_evaluate->setToolTip(
        tr("The run's confusion matrix, per-class figures and the images behind them"));
    buttons->addWidget(m_evaluate);
    m_compare = new QPushButton(tr("Compare"), top);
    m_compare->setObjectName(QStringLiteral("compareRuns"));
    m_compare->setToolTip(tr("Two runs: the newer run's row-normalized confusion matrix minus the "
                             "older's (for example pruned minus dense)"));
    buttons->addWidget(m_compare);
    buttons->addWidget(m_delete);
    topLayout->addLayout(buttons);

    m_charts = new LiveCharts(split);
    split->addWidget(top);
    split->addWidget(m_charts);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 2);
    layout->addWidget(split);

    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
        &RunHistoryWidget::updateSelection);
    connect(m_delete, &QPushButton::clicked, this, [this] { deleteRuns(selectedRunIds(), true); });
    connect(m_open, &QPushButton::clicked, this, [this] {
        const QVector<qint64> ids = selectedRunIds();
        const StoredRun *r = ids.isEmpty() ? nullptr : m_model->runAt(m_model->rowOf(ids.first()));
        QString error;
        if (r && !DatasetBrowser::showInFileManager(r->config.outDir, &error)) {
            m_hint->setText(error);
            m_hint->setStyleSheet(QStringLiteral("QLabel { color: #b00020; }"));
        }
    });
    connect(m_resume, &QPushButton::clicked, this, [this] {
        const QVector<qint64> ids = selectedRunIds();
        if (const StoredRun *r
            = ids.isEmpty() ? nullptr : m_model->runAt(m_model->rowOf(ids.first()))) {
            // Copies: the run that starts reloads the history, and with it the model's rows.
            const qint64 id = r->id;
            const RunConfig config = r->config;
            Q_EMIT resumeRequested(id, config);
        }
    });
    connect(m_evaluate, &QPushButton::clicked, this, [this] {
        const QVector<qint64> ids = selectedRunIds();
        if (const StoredRun *r
            = ids.size() == 1 ? m_model->runAt(m_model->rowOf(ids.first())) : nullptr) {
            const QString dir = r->config.outDir, title = runTitle(*r); // copies, as below
            Q_EMIT evaluationRequested(dir, title);
        }
    });
    connect(m_compare, &QPushButton::clicked, this, [this] {
        const QVector<qint64> ids = selectedRunIds(); // ascending: the newer run is last
        const StoredRun *older = ids.size() == 2 ? m_model->runAt(m_model->rowOf(ids[0])) : nullptr;
        const StoredRun *newer = ids.size() == 2 ? m_model->runAt(m_model->rowOf(ids[1])) : nullptr;
        if (older && newer) {
            const QString a = newer->config.outDir, ta = runTitle(*newer);
            const QString b = older->config.outDir, tb = runTitle(*older);
            Q_EMIT compareRequested(a, ta, b, tb);
        }
    });
    connect(m_rerun, &QPushButton::clicked, this, [this] {
        const QVector<qint64> ids = selectedRunIds();
        if (const StoredRun *r
            = ids.isEmpty() ? nullptr : m_model->runAt(m_model->rowOf(ids.first()))) {
            const RunConfig config = r->config; // a copy: the history may reload meanwhile
            Q_EMIT rerunRequested(config);
        }
    });
    // The table's context menu: what needs one finished run and is not a button of its own.
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        const QVector<qint64> ids = selectedRunIds();
        const StoredRun *r
            = ids.size() == 1 ? m_model->runAt(m_model->rowOf(ids.first())) : nullptr;
        QMenu menu(this);
        QAction *prune = menu.addAction(tr("Prune to a budget..."));
        prune->setToolTip(tr("How far the run's model can be pruned within an accuracy budget"));
        prune->setEnabled(r && r->status == QLatin1String("finished"));
        if (r && prune->isEnabled()) {
            const QString dir = r->config.outDir, data = r->config.dataDir; // copies, as above
            connect(prune, &QAction::triggered, this,
                [this, dir, data] { Q_EMIT pruneRequested(dir, data); });
        }
        QAction *exports = menu.addAction(tr("Exports chart..."));
        exports->setToolTip(tr("The run's exports: accuracy against latency, file size as the "
                               "marker"));
        exports->setEnabled(r && r->status == QLatin1String("finished"));
        if (r && exports->isEnabled()) {
            const QString dir = r->config.outDir, title = runTitle(*r);
            connect(exports, &QAction::triggered, this, [this, dir, title] {
                auto *dialog = new QDialog(this);
                dialog->setAttribute(Qt::WA_DeleteOnClose);
                dialog->setWindowTitle(tr("Exports of %1").arg(title));
                auto *chart = new ExportChart(dialog);
                chart->setRunDir(dir);
                (new QVBoxLayout(dialog))->addWidget(chart);
                dialog->resize(760, 520);
                dialog->show();
            });
        }
        menu.exec(m_view->viewport()->mapToGlobal(pos));
    });
    updateSelection();
}

QString RunHistoryWidget::runTitle(const StoredRun &run) const
{
    return QStringLiteral("#%1 %2").arg(run.id).arg(QFileInfo(run.config.outDir).fileName());
}

QVector<StoredRun> RunHistoryWidget::readRuns() const
{
    return m_store && m_store->isOpen() ? m_store->runs() : QVector<StoredRun>();
}

void RunHistoryWidget::watchStore()
{
    if (!m_store || !m_store->isOpen() || m_store->path().isEmpty())
        return;
    const QString db = QFileInfo(m_store->path()).absoluteFilePath();
    QStringList paths { QFileInfo(db).absolutePath() }; // the -wal file comes and goes
    for (const QString &p : { db, QString(db + QStringLiteral("-wal")) })
        if (QFileInfo::exists(p))
            paths << p;
    const QStringList watched = m_watcher->files() + m_watcher->directories();
    for (const QString &p : std::as_const(paths))
        if (!watched.contains(p))
            m_watcher->addPath(p);
}

void RunHistoryWidget::reload()
{
    watchStore();
    const QVector<qint64> selected = selectedRunIds();
    m_model->setRuns(readRuns());
    m_view->resizeColumnsToContents();
    selectRuns(selected);
    updateSelection();
}

bool RunHistoryWidget::refresh()
{
    const QVector<StoredRun> runs = readRuns();
    const QVector<StoredRun> &shown = m_model->runs();
    if (std::equal(runs.begin(), runs.end(), shown.begin(), shown.end(), sameRun))
        return false;
    const QVector<qint64> selected = selectedRunIds();
    bool selectionChanged = false;
    for (qint64 id : selected) {
        const int row = m_model->rowOf(id);
        const auto now = std::find_if(
            runs.begin(), runs.end(), [id](const StoredRun &r) { return r.id == id; });
        selectionChanged = selectionChanged || row < 0 || now == runs.end()
            || !sameRun(*now, *m_model->runAt(row));
    }
    {
        const QSignalBlocker blocker(m_view->selectionModel());
        m_model->setRuns(runs);
        m_view->resizeColumnsToContents();
        selectRuns(selected);
    }
    if (selectionChanged || selectedRunIds() != selected)
        updateSelection();
    return true;
}

QString RunHistoryWidget::hintText() const
{
    return m_hint->text();
}

QVector<qint64> RunHistoryWidget::selectedRunIds() const
{
    QVector<qint64> ids;
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    for (const QModelIndex &index : rows)
        ids << index.data(RunTableModel::RunIdRole).toLongLong();
    std::sort(ids.begin(), ids.end());
    return ids;
}

void RunHistoryWidget::selectRuns(const QVector<qint64> &ids)
{
    QItemSelection selection;
    for (qint64 id : ids) {
        const int row = m_model->rowOf(id);
        if (row < 0)
            continue;
        const QModelIndex i = m_proxy->mapFromSource(m_model->index(row, 0));
        selection.select(i, i.siblingAtColumn(RunTableModel::ColumnCount - 1));
    }
    m_view->selectionModel()->select(
        selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

bool RunHistoryWidget::deleteRuns(const QVector<qint64> &ids, bool confirm)
{
    if (ids.isEmpty() || !m_store)
        return false;
    if (confirm
        && QMessageBox::question(this, tr("Delete runs"),
               tr("Remove %n run(s) from the history? Their run folders stay on disk.", nullptr,
                   int(ids.size())))
            != QMessageBox::Yes)
        return false;
    bool ok = true;
    for (qint64 id : ids)
        ok = m_store->removeRun(id) && ok;
    reload();
    return ok;
}

void RunHistoryWidget::updateSelection()
{
    const QVector<qint64> ids = selectedRunIds();
    m_hint->setText(tr("Select a run to see its charts; select two or more to compare them."));
    m_hint->setStyleSheet(QString());
    m_delete->setEnabled(!ids.isEmpty());
    m_open->setEnabled(ids.size() == 1);
    m_rerun->setEnabled(ids.size() == 1);
    m_evaluate->setEnabled(ids.size() == 1);
    m_compare->setEnabled(ids.size() == 2);
    const StoredRun *one = ids.size() == 1 ? m_model->runAt(m_model->rowOf(ids.first())) : nullptr;
    m_resume->setEnabled(
        one && (one->status == QLatin1String("stopped") || one->status == QLatin1String("failed")));
    if (!m_store || !m_store->isOpen() || ids.isEmpty()) {
        m_charts->clear();
        return;
    }
    if (ids.size() == 1) {
        m_charts->setSamples(m_store->samples(ids.first()));
        return;
    }
    QVector<QPair<QString, QVector<MetricsSample>>> runs;
    for (qint64 id : ids) {
        const StoredRun *r = m_model->runAt(m_model->rowOf(id));
        const QString label = r ? runTitle(*r) : QStringLiteral("#%1").arg(id);
        runs.append({ label, m_store->samples(id) });
    }
    m_charts->setOverlay(runs);
}

} // namespace leantune
