#include "widgets/audit/dataissuesview.h"

#include "widgets/audit/auditjob.h"
#include "widgets/dataset/thumbnailloader.h"

#include "audit/labelaudit.h"
#include "dataset/sampledata.h"
#include "metrics/predictions.h"

#include <QAbstractListModel>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCryptographicHash>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFrame>
#include <QHBoxLayout>
#include <QImageReader>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QLocale>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStringBuilder>
#include <QTabWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace leantune {

namespace {

constexpr int kThumb = 56;
constexpr int kMaxCards = 8; // images of a duplicate group shown side by side

QString settingsKey()
{
    return QStringLiteral("dataIssues/auditDirs");
}

QString percent(double share)
{
    return QLocale().toString(100.0 * share, 'f', 1) + QStringLiteral(" %");
}

QStringList classFolders(const QString &dir)
{
    return QDir(dir).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
}

QString className(const QString &path)
{
    return QFileInfo(QFileInfo(path).absolutePath()).fileName();
}

} // namespace

// One row per queued item: its text, and the thumbnail of its (first) image.
class IssueListModel : public QAbstractListModel {
public:
    struct Row {
        int item = -1; // index into the report's list
        QString text;
        QString tooltip;
        QString image; // thumbnail path
        qint64 key = -1;
    };

    IssueListModel(ThumbnailLoader *thumbs, QObject *parent)
        : QAbstractListModel(parent)
        , m_thumbs(thumbs)
    {
    }

    void setRows(QVector<Row> rows)
    {
        beginResetModel();
        m_rows = std::move(rows);
        m_byKey.clear();
        for (int r = 0; r < m_rows.size(); ++r)
            m_byKey[m_rows[r].key].push_back(r);
        endResetModel();
    }
    const QVector<Row> &rows() const { return m_rows; }
    int rowOfItem(int item) const
    {
        for (int r = 0; r < m_rows.size(); ++r)
            if (m_rows[r].item == item)
                return r;
        return -1;
    }
    void thumbnailReady(qint64 key)
    {
        for (int r : m_byKey.value(key))
            Q_EMIT dataChanged(index(r), index(r), { Qt::DecorationRole });
    }

    int rowCount(const QModelIndex &parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }
    QVariant data(const QModelIndex &index, int role) const override
    {
        if (!index.isValid() || index.row() >= m_rows.size())
            return {};
        const Row &row = m_rows[index.row()];
        switch (role) {
        case Qt::DisplayRole:
            return row.text;
        case Qt::ToolTipRole:
            return row.tooltip;
        case Qt::DecorationRole: {
            if (row.image.isEmpty())
                return {};
            const QImage image = m_thumbs->thumbnail(row.key, row.image);
            QPixmap pixmap(kThumb, kThumb);
            pixmap.fill(Qt::transparent);
            if (!image.isNull()) {
                QPainter p(&pixmap);
                const QImage scaled = image.scaled(kThumb, kThumb, Qt::KeepAspectRatio,
                    image.width() < kThumb ? Qt::FastTransformation : Qt::SmoothTransformation);
                p.drawImage((kThumb - scaled.width()) / 2, (kThumb - scaled.height()) / 2, scaled);
            }
            return pixmap;
        }
        default:
            return {};
        }
    }

private:
    ThumbnailLoader *m_thumbs;
    QVector<Row> m_rows;
    QHash<qint64, QVector<int>> m_byKey;
};

namespace {

// Keys for the thumbnail cache: one per path, for the view's life.
qint64 thumbKey(const QString &path)
{
    static QHash<QString, qint64> keys;
    auto it = keys.find(path);
    if (it == keys.end())
        it = keys.insert(path, keys.size());
    return *it;
}

QListView *makeList(QAbstractItemModel *model, QWidget *parent, const char *name)
{
    auto *view = new QListView(parent);
    view->setObjectName(QLatin1String(name));
    view->setModel(model);
    view->setIconSize({ kThumb, kThumb });
    view->setUniformItemSizes(true);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view->setMinimumWidth(220);
    return view;
}

QPushButton *button(const QString &text, const QString &key, QWidget *parent, const char *name)
{
    auto *b
        = new QPushButton(key.isEmpty() ? text : text % QStringLiteral(" (") % key % u')', parent);
    b->setObjectName(QLatin1String(name));
    b->setFocusPolicy(Qt::TabFocus);
    return b;
}

} // namespace

DataIssuesView::DataIssuesView(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("dataIssuesView"));
    m_thumbs = new ThumbnailLoader({ kThumb, kThumb }, this);
    buildUi();
    connect(m_thumbs, &ThumbnailLoader::thumbnailReady, this, [this](qint64 key) {
        for (IssueListModel *m : m_models)
            m->thumbnailReady(key);
        m_overlapModel->thumbnailReady(key);
    });
    rebuildAll();
}

DataIssuesView::~DataIssuesView() = default;

void DataIssuesView::buildUi()
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    auto *bar = new QHBoxLayout;
    m_find = new QPushButton(tr("F&ind issues..."), this);
    m_find->setObjectName(QStringLiteral("findIssues"));
    m_find->setToolTip(tr("Audit the open data folder: cross-trained models find wrong labels, "
                          "outliers and overlapping classes; hashes find duplicates and leaks"));
    m_open = new QPushButton(tr("Open &audit..."), this);
    m_open->setObjectName(QStringLiteral("openAudit"));
    m_open->setToolTip(tr("Open an audit folder written by leantune-cli audit --out AUDITDIR"));
    m_cancel = new QPushButton(tr("Cancel (Esc)"), this);
    m_cancel->setObjectName(QStringLiteral("cancelAudit"));
    m_cancel->hide();
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("auditProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setMaximumWidth(220);
    m_progress->hide();
    m_progressText = new QLabel(this);
    m_progressText->setObjectName(QStringLiteral("auditProgressText"));
    m_summary = new QLabel(tr("Open a data folder, then Find issues."), this);
    m_summary->setObjectName(QStringLiteral("auditSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    bar->addWidget(m_find);
    bar->addWidget(m_open);
    bar->addWidget(m_cancel);
    bar->addWidget(m_progress);
    bar->addWidget(m_progressText, 1);
    layout->addLayout(bar);
    layout->addWidget(m_summary); // a line of its own: the bar's progress text needs the width
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("auditError"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(
        QStringLiteral("QLabel { background: #fdecea; color: #8a1c1c; border: 1px solid #e0a0a0; "
                       "border-radius: 4px; padding: 6px; }"));
    m_error->hide();
    layout->addWidget(m_error);

    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("issueLists"));
    const char *names[4] = { "wrongLabels", "duplicates", "outliers", "overlappingClasses" };
    QWidget *panes[4]
        = { buildLabelPane(), buildDuplicatePane(), buildOutlierPane(), buildOverlapPane() };
    for (int i = 0; i < 4; ++i) {
        m_models[i] = new IssueListModel(m_thumbs, this);
        auto *split = new QSplitter(Qt::Horizontal, m_tabs);
        m_views[i] = makeList(m_models[i], split, names[i]);
        split->addWidget(m_views[i]);
        auto *scroll = new QScrollArea(split);
        scroll->setWidgetResizable(true);
        // The pane takes the viewport's width, so its texts wrap instead of scrolling sideways.
        scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        scroll->setFrameShape(QFrame::NoFrame);
        scroll->setWidget(panes[i]);
        split->addWidget(scroll);
        split->setStretchFactor(0, 2);
        split->setStretchFactor(1, 3);
        split->setSizes({ 320, 520 });
        m_tabs->addTab(split, QString());
        connect(m_views[i]->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this] { updateDetail(); });
    }
    layout->addWidget(m_tabs, 1);
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        updateDetail();
        if (index >= 0 && index < 4 && isVisible())
            m_views[index]->setFocus(); // its keys (R, X, K, N, 1-9) act on what it shows
    });

    connect(m_find, &QPushButton::clicked, this, [this] {
        // The audit's few choices; the rest are `leantune-cli audit`'s defaults.
        QDialog dialog(this);
        dialog.setWindowTitle(tr("Find issues"));
        auto *form = new QFormLayout(&dialog);
        auto *folder = new QLabel(QDir::toNativeSeparators(m_folder), &dialog);
        folder->setWordWrap(true);
        form->addRow(tr("Data folder:"), folder);
        auto *test = new QLineEdit(&dialog);
        test->setObjectName(QStringLiteral("auditTest"));
        test->setPlaceholderText(tr("optional: copies in it are leaks"));
        const QString sibling
            = QDir(QFileInfo(m_folder).absolutePath()).filePath(QStringLiteral("test"));
        if (QFileInfo(m_folder).fileName() == QLatin1String("train") && QFileInfo(sibling).isDir())
            test->setText(sibling);
        auto *browse = new QPushButton(tr("..."), &dialog);
        connect(browse, &QPushButton::clicked, &dialog, [&] {
            const QString dir
                = QFileDialog::getExistingDirectory(&dialog, tr("Test folder"), test->text());
            if (!dir.isEmpty())
                test->setText(dir);
        });
        auto *testRow = new QHBoxLayout;
        testRow->addWidget(test, 1);
        testRow->addWidget(browse);
        auto *testLabel = new QLabel(tr("&Test folder:"), &dialog);
        testLabel->setBuddy(test);
        test->setMinimumWidth(320);
        form->addRow(testLabel, testRow);
        auto *duplicatesOnly
            = new QCheckBox(tr("&Duplicates and leaks only (no training, seconds)"), &dialog);
        form->addRow(duplicatesOnly);
        auto *folds = new QSpinBox(&dialog);
        folds->setRange(2, 10);
        folds->setValue(3);
        form->addRow(tr("F&olds (models cross-trained):"), folds);
        auto *epochs = new QSpinBox(&dialog);
        // 0 is the command line's default: no --epochs, so a small folder's folds train longer.
        epochs->setRange(0, 200);
        epochs->setSpecialValueText(tr("automatic"));
        epochs->setValue(0);
        epochs->setToolTip(tr("Automatic: %1 epochs, up to twice that on a small folder so that "
                              "each fold model trains at least 800 batches.")
                               .arg(auditRunDefaults().epochs));
        form->addRow(tr("&Epochs per fold:"), epochs);
        connect(duplicatesOnly, &QCheckBox::toggled, &dialog, [=](bool on) {
            folds->setEnabled(!on);
            epochs->setEnabled(!on);
        });
        auto *where
            = new QLabel(tr("Written to %1; a stopped audit goes on from its finished folds.")
                             .arg(QDir::toNativeSeparators(auditDirFor(m_folder))),
                &dialog);
        where->setWordWrap(true);
        form->addRow(where);
        auto *buttons
            = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
        buttons->button(QDialogButtonBox::Ok)->setText(tr("Find issues"));
        connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
        connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
        form->addRow(buttons);
        if (dialog.exec() != QDialog::Accepted)
            return;
        findIssues(
            duplicatesOnly->isChecked(), folds->value(), epochs->value(), test->text().trimmed());
    });
    connect(m_open, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open audit folder"),
            m_auditDir.isEmpty() ? auditDirFor(m_folder) : m_auditDir);
        if (!dir.isEmpty())
            openAudit(dir);
    });
    connect(m_cancel, &QPushButton::clicked, this, &DataIssuesView::cancelAudit);

    // Keys for every action, active anywhere in the view.
    const auto action = [this](const QKeySequence &key, auto slot) {
        auto *a = new QAction(this);
        a->setShortcut(key);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, slot);
        addAction(a);
        return a;
    };
    action(Qt::Key_R, [this] { relabelToSuggestion(); });
    action(Qt::Key_L, [this] {
        if (currentList() != WrongLabels || currentItem(WrongLabels) < 0)
            return;
        const AuditLabelIssue &issue = m_report.labelIssues[std::size_t(currentItem(WrongLabels))];
        QStringList choices = m_classes;
        choices.removeAll(issue.given);
        bool ok = false;
        const QString label = QInputDialog::getItem(this, tr("Relabel"),
            tr("Move %1 from %2 to:").arg(QFileInfo(issue.path).fileName(), issue.given), choices,
            std::max(0, int(choices.indexOf(issue.suggested))), false, &ok);
        if (ok)
            relabelTo(label);
    });
    action(Qt::Key_X, [this] { excludeCurrent(); });
    action(Qt::Key_K, [this] { keepCurrent(); });
    action(Qt::Key_N, [this] { next(); });
    for (int i = 0; i < 9; ++i)
        action(Qt::Key(Qt::Key_1 + i), [this, i] { keepOnly(i); });
    action(Qt::Key_Escape, [this] { cancelAudit(); });
    m_undoAction = action(QKeySequence::Undo, [this] { undo(); });
    m_undoAction->setObjectName(QStringLiteral("undoDecision"));
}

QWidget *DataIssuesView::buildLabelPane()
{
    auto *pane = new QWidget;
    auto *v = new QVBoxLayout(pane);
    m_labelImage = new QLabel(pane);
    m_labelImage->setAlignment(Qt::AlignCenter);
    m_labelImage->setMinimumSize(200, 200);
    m_labelText = new QLabel(pane);
    m_labelText->setObjectName(QStringLiteral("labelIssueText"));
    m_labelText->setWordWrap(true);
    m_labelText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_labelButtons = new QWidget(pane);
    auto *grid = new QGridLayout(m_labelButtons);
    grid->setContentsMargins(0, 0, 0, 0);
    m_relabelSuggested
        = button(tr("Relabel"), QStringLiteral("R"), m_labelButtons, "relabelSuggested");
    auto *relabel = button(tr("Relabel to..."), QStringLiteral("L"), m_labelButtons, "relabelTo");
    auto *exclude = button(tr("Exclude"), QStringLiteral("X"), m_labelButtons, "excludeImage");
    auto *keep = button(tr("Keep: not an issue"), QStringLiteral("K"), m_labelButtons, "keepImage");
    auto *next = button(tr("Next"), QStringLiteral("N"), m_labelButtons, "nextIssue");
    grid->addWidget(m_relabelSuggested, 0, 0, 1, 2);
    grid->addWidget(relabel, 1, 0);
    grid->addWidget(exclude, 1, 1);
    grid->addWidget(keep, 2, 0);
    grid->addWidget(next, 2, 1);
    connect(m_relabelSuggested, &QPushButton::clicked, this, [this] { relabelToSuggestion(); });
    connect(relabel, &QPushButton::clicked, this, [this] {
        for (QAction *a : actions())
            if (a->shortcut() == QKeySequence(Qt::Key_L))
                a->trigger();
    });
    connect(exclude, &QPushButton::clicked, this, [this] { excludeCurrent(); });
    connect(keep, &QPushButton::clicked, this, [this] { keepCurrent(); });
    connect(next, &QPushButton::clicked, this, [this] { this->next(); });
    v->addWidget(m_labelImage);
    v->addWidget(m_labelText);
    v->addWidget(m_labelButtons);
    v->addStretch(1);
    return pane;
}

QWidget *DataIssuesView::buildDuplicatePane()
{
    auto *pane = new QWidget;
    auto *v = new QVBoxLayout(pane);
    m_dupText = new QLabel(pane);
    m_dupText->setObjectName(QStringLiteral("duplicateText"));
    m_dupText->setWordWrap(true);
    m_dupText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_dupRow = new QWidget(pane);
    new QGridLayout(m_dupRow);
    m_dupButtons = new QWidget(pane);
    auto *h = new QHBoxLayout(m_dupButtons);
    h->setContentsMargins(0, 0, 0, 0);
    auto *keepAll
        = button(tr("Keep all: not copies"), QStringLiteral("K"), m_dupButtons, "keepGroup");
    auto *next = button(tr("Next"), QStringLiteral("N"), m_dupButtons, "nextGroup");
    h->addWidget(keepAll);
    h->addWidget(next);
    h->addStretch(1);
    connect(keepAll, &QPushButton::clicked, this, [this] { keepCurrent(); });
    connect(next, &QPushButton::clicked, this, [this] { this->next(); });
    v->addWidget(m_dupText);
    v->addWidget(m_dupRow);
    v->addWidget(m_dupButtons);
    v->addStretch(1);
    return pane;
}

QWidget *DataIssuesView::buildOutlierPane()
{
    auto *pane = new QWidget;
    auto *v = new QVBoxLayout(pane);
    m_outlierImage = new QLabel(pane);
    m_outlierImage->setAlignment(Qt::AlignCenter);
    m_outlierImage->setMinimumSize(200, 200);
    m_outlierText = new QLabel(pane);
    m_outlierText->setObjectName(QStringLiteral("outlierText"));
    m_outlierText->setWordWrap(true);
    m_outlierText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_outlierButtons = new QWidget(pane);
    auto *h = new QHBoxLayout(m_outlierButtons);
    h->setContentsMargins(0, 0, 0, 0);
    auto *exclude = button(tr("Exclude"), QStringLiteral("X"), m_outlierButtons, "excludeOutlier");
    auto *keep = button(tr("Keep"), QStringLiteral("K"), m_outlierButtons, "keepOutlier");
    auto *next = button(tr("Next"), QStringLiteral("N"), m_outlierButtons, "nextOutlier");
    h->addWidget(exclude);
    h->addWidget(keep);
    h->addWidget(next);
    h->addStretch(1);
    connect(exclude, &QPushButton::clicked, this, [this] { excludeCurrent(); });
    connect(keep, &QPushButton::clicked, this, [this] { keepCurrent(); });
    connect(next, &QPushButton::clicked, this, [this] { this->next(); });
    v->addWidget(m_outlierImage);
    v->addWidget(m_outlierText);
    v->addWidget(m_outlierButtons);
    v->addStretch(1);
    return pane;
}

QWidget *DataIssuesView::buildOverlapPane()
{
    auto *pane = new QWidget;
    auto *v = new QVBoxLayout(pane);
    m_overlapText = new QLabel(pane);
    m_overlapText->setObjectName(QStringLiteral("overlapText"));
    m_overlapText->setWordWrap(true);
    m_overlapModel = new IssueListModel(m_thumbs, this);
    m_overlapIssues = new QListView(pane);
    m_overlapIssues->setObjectName(QStringLiteral("overlapIssues"));
    m_overlapIssues->setModel(m_overlapModel);
    m_overlapIssues->setViewMode(QListView::IconMode);
    m_overlapIssues->setIconSize({ kThumb, kThumb });
    m_overlapIssues->setGridSize({ kThumb + 64, kThumb + 36 });
    m_overlapIssues->setResizeMode(QListView::Adjust);
    m_overlapIssues->setWordWrap(true);
    m_overlapIssues->setMovement(QListView::Static);
    m_overlapIssues->setToolTip(tr("Enter or double-click: review this image under Wrong labels"));
    const auto review = [this](const QModelIndex &index) {
        if (!index.isValid())
            return;
        const int item = m_overlapModel->rows().value(index.row()).item;
        setCurrentList(WrongLabels);
        selectItem(WrongLabels, item);
        m_views[WrongLabels]->setFocus();
    };
    connect(m_overlapIssues, &QListView::activated, this, review);
    v->addWidget(m_overlapText);
    v->addWidget(m_overlapIssues, 1);
    return pane;
}

void DataIssuesView::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (!isAncestorOf(QApplication::focusWidget()))
        m_views[m_tabs->currentIndex()]->setFocus();
}

QString DataIssuesView::defaultAuditDir(const QString &folder)
{
    const QString abs = QDir(folder).absolutePath();
    const QByteArray hash
        = QCryptographicHash::hash(abs.toUtf8(), QCryptographicHash::Sha256).toHex().left(10);
    return QDir(userDataDir())
        .filePath(QStringLiteral("audits/") % QFileInfo(abs).fileName() % u'-'
            % QString::fromLatin1(hash));
}

QString DataIssuesView::auditDirFor(const QString &folder)
{
    const QString abs = QDir(folder).absolutePath();
    const QString recorded = QSettings().value(settingsKey()).toMap().value(abs).toString();
    return recorded.isEmpty() ? defaultAuditDir(abs) : recorded;
}

void DataIssuesView::setDataFolder(const QString &folder)
{
    const QString abs = folder.isEmpty() ? QString() : QDir(folder).absolutePath();
    if (abs == m_folder && m_loaded)
        return;
    if (m_job && abs != m_folder)
        cancelAudit();
    m_folder = abs;
    m_classes = abs.isEmpty() ? QStringList() : classFolders(abs);
    m_loaded = false;
    m_report = AuditReport();
    m_auditDir.clear();
    m_top.clear();
    m_undo.clear();
    clearError();
    m_thumbs->clear();
    m_summary->setText(abs.isEmpty() ? tr("Open a data folder, then Find issues.")
                                     : tr("No audit of this folder yet: Find issues."));
    const QString dir = abs.isEmpty() ? QString() : auditDirFor(abs);
    if (!dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath(QStringLiteral("audit.json"))))
        openAudit(dir);
    else if (!abs.isEmpty() && m_classes.size() < 2)
        showError(tr("%1 has %2 class folder(s): an audit needs at least two classes (one "
                     "sub-folder per class).")
                      .arg(QDir::toNativeSeparators(abs))
                      .arg(m_classes.size()));
    rebuildAll();
}

bool DataIssuesView::openAudit(const QString &auditDir, QString *error)
{
    const auto refuse = [&](const QString &message) {
        showError(message);
        if (error)
            *error = message;
        return false;
    };
    if (m_folder.isEmpty())
        return refuse(tr("Open a data folder first."));
    QString why;
    std::optional<AuditReport> report = readAudit(auditDir, &why);
    if (!report)
        return refuse(why);
    // The folder check of readAuditFor; the file fingerprint would need a scan of every split, so
    // images gone since are dropped from the lists instead.
    if (QDir(report->source.train).absolutePath() != m_folder)
        return refuse(tr("%1 is the audit of another data set (%2), not of %3: open its folder, "
                         "or Find issues to audit this one.")
                          .arg(QDir::toNativeSeparators(auditDir),
                              QDir::toNativeSeparators(report->source.train),
                              QDir::toNativeSeparators(m_folder)));
    if (m_classes.size() < 2)
        return refuse(tr("%1 has %2 class folder(s): an audit needs at least two classes.")
                          .arg(QDir::toNativeSeparators(m_folder))
                          .arg(m_classes.size()));
    m_report = std::move(*report);
    m_auditDir = QDir(auditDir).absolutePath();
    m_loaded = true;
    m_undo.clear();
    QSettings settings;
    QVariantMap dirs = settings.value(settingsKey()).toMap();
    dirs.insert(m_folder, m_auditDir);
    settings.setValue(settingsKey(), dirs);
    clearError();
    readTopProbabilities();
    reloadCorrections();
    rebuildAll();
    return true;
}

void DataIssuesView::readTopProbabilities()
{
    m_top.clear();
    QSet<QString> wanted;
    for (const AuditLabelIssue &issue : m_report.labelIssues)
        wanted.insert(issue.path);
    if (wanted.isEmpty())
        return;
    const QDir folds(QDir(m_auditDir).filePath(QStringLiteral("folds")));
    for (const QString &fold : folds.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QString ignored;
        const std::optional<PredictionsFile> file = readPredictions(
            QDir(folds.filePath(fold)).filePath(QStringLiteral("predictions.csv")), &ignored);
        if (!file)
            continue;
        for (const Prediction &p : file->rows)
            if (wanted.contains(p.path))
                m_top.insert(p.path, p.top.mid(0, 3));
    }
}

QString DataIssuesView::folderOf(AuditSplit split) const
{
    switch (split) {
    case AuditSplit::Train:
        return m_report.source.train.isEmpty() ? m_folder : m_report.source.train;
    case AuditSplit::Val:
        return m_report.source.val;
    case AuditSplit::Test:
        return m_report.source.test;
    }
    return {};
}

void DataIssuesView::reloadCorrections()
{
    m_corrections.clear();
    for (AuditSplit split : { AuditSplit::Train, AuditSplit::Val, AuditSplit::Test }) {
        const QString dir = folderOf(split);
        if (dir.isEmpty() || m_corrections.contains(dir))
            continue;
        QString why;
        std::optional<Corrections> c = Corrections::read(dir, &why);
        if (!c) {
            showError(why);
            c = Corrections();
        }
        m_corrections.insert(dir, *c);
    }
}

bool DataIssuesView::reviewed(const QString &dataDir, const QString &path) const
{
    const auto it = m_corrections.constFind(dataDir);
    return it != m_corrections.constEnd()
        && it->find(Corrections::relativePath(dataDir, path)).has_value();
}

void DataIssuesView::rebuildAll()
{
    for (int l = 0; l < 4; ++l)
        rebuild(List(l));
    updateTabTitles();
    updateDetail();
}

void DataIssuesView::rebuild(List list, int preferItem, int preferRow)
{
    QVector<IssueListModel::Row> rows;
    const QString train = folderOf(AuditSplit::Train);
    if (m_loaded) {
        switch (list) {
        case WrongLabels:
            for (std::size_t i = 0; i < m_report.labelIssues.size(); ++i) {
                const AuditLabelIssue &issue = m_report.labelIssues[i];
                if (reviewed(train, issue.path) || !QFileInfo::exists(issue.path))
                    continue;
                rows.push_back({ int(i),
                    QStringLiteral("%1 → %2\n%3")
                        .arg(issue.given, issue.suggested, QFileInfo(issue.path).fileName()),
                    QDir::toNativeSeparators(issue.path), issue.path, thumbKey(issue.path) });
            }
            break;
        case Duplicates:
            for (std::size_t i = 0; i < m_report.duplicates.size(); ++i) {
                const AuditDuplicateGroup &g = m_report.duplicates[i];
                bool open = false;
                for (const AuditImage &image : g.images)
                    open = open
                        || (!reviewed(folderOf(image.split), image.path)
                            && QFileInfo::exists(image.path));
                if (!open || g.images.empty())
                    continue;
                QStringList flags;
                flags << (g.kind == AuditDuplicateGroup::Kind::Exact ? tr("exact") : tr("near"));
                if (g.leak)
                    flags << tr("LEAK");
                if (g.conflict)
                    flags << tr("labels differ");
                QStringList splits;
                for (const AuditImage &image : g.images)
                    if (!splits.contains(auditSplitName(image.split)))
                        splits << auditSplitName(image.split);
                rows.push_back({ int(i),
                    tr("%1 images · %2\n%3")
                        .arg(g.images.size())
                        .arg(flags.join(QStringLiteral(" · ")), splits.join(QStringLiteral(" + "))),
                    QDir::toNativeSeparators(g.images.front().path), g.images.front().path,
                    thumbKey(g.images.front().path) });
            }
            break;
        case Outliers:
            for (std::size_t i = 0; i < m_report.outliers.size(); ++i) {
                const AuditOutlier &o = m_report.outliers[i];
                if (reviewed(train, o.path) || !QFileInfo::exists(o.path))
                    continue;
                rows.push_back({ int(i),
                    tr("%1 · score %2\n%3")
                        .arg(className(o.path))
                        .arg(o.score, 0, 'g', 3)
                        .arg(QFileInfo(o.path).fileName()),
                    QDir::toNativeSeparators(o.path), o.path, thumbKey(o.path) });
            }
            break;
        case OverlappingClasses:
            for (std::size_t i = 0; i < m_report.overlappingClasses.size(); ++i) {
                const AuditClassOverlap &o = m_report.overlappingClasses[i];
                QString first;
                for (const AuditLabelIssue &issue : m_report.labelIssues)
                    if ((issue.given == o.classA && issue.suggested == o.classB)
                        || (issue.given == o.classB && issue.suggested == o.classA)) {
                        first = issue.path;
                        break;
                    }
                rows.push_back({ int(i),
                    tr("%1 ↔ %2\n%3 of their images").arg(o.classA, o.classB, percent(o.share)),
                    QString(), first, first.isEmpty() ? -1 : thumbKey(first) });
            }
            break;
        }
    }
    QListView *view = m_views[list];
    const int oldRow = view->currentIndex().row();
    m_models[list]->setRows(rows);
    int row = preferItem >= 0 ? m_models[list]->rowOfItem(preferItem) : -1;
    if (row < 0)
        row = std::min(preferRow >= 0 ? preferRow : std::max(oldRow, 0), int(rows.size()) - 1);
    if (row >= 0)
        view->setCurrentIndex(m_models[list]->index(row));
}

void DataIssuesView::updateTabTitles()
{
    // Alt+W, Alt+D, Alt+U, Alt+C switch lists.
    const QString titles[4] = { tr("&Wrong labels (%1)"), tr("&Duplicates and leaks (%1)"),
        tr("O&utliers (%1)"), tr("Overlapping &classes (%1)") };
    for (int l = 0; l < 4; ++l)
        m_tabs->setTabText(l, titles[l].arg(m_models[l]->rowCount()));
    if (!m_loaded)
        return;
    int leaks = 0;
    for (const AuditDuplicateGroup &g : m_report.duplicates)
        leaks += g.leak ? 1 : 0;
    m_summary->setText(
        tr("%1: %2 images%3 · %4 label issues, %5 duplicate groups (%6 leaks), %7 outliers · "
           "decisions go to %8")
            .arg(QDir::toNativeSeparators(m_auditDir))
            .arg(QLocale().toString(m_report.images))
            .arg(
                m_report.folds > 0 ? tr(", %1 folds").arg(m_report.folds) : tr(", duplicates only"))
            .arg(m_report.labelIssues.size())
            .arg(m_report.duplicates.size())
            .arg(leaks)
            .arg(m_report.outliers.size())
            .arg(Corrections::fileName()));
}

DataIssuesView::List DataIssuesView::currentList() const
{
    return List(m_tabs->currentIndex());
}

void DataIssuesView::setCurrentList(List list)
{
    m_tabs->setCurrentIndex(int(list));
}

int DataIssuesView::remaining(List list) const
{
    return m_models[list]->rowCount();
}

int DataIssuesView::currentItem(List list) const
{
    const QModelIndex index = m_views[list]->currentIndex();
    return index.isValid() ? m_models[list]->rows().value(index.row()).item : -1;
}

void DataIssuesView::selectItem(List list, int item)
{
    const int row = m_models[list]->rowOfItem(item);
    if (row >= 0)
        m_views[list]->setCurrentIndex(m_models[list]->index(row));
}

QString DataIssuesView::currentPath() const
{
    const int item = currentItem(currentList());
    if (item < 0)
        return {};
    if (currentList() == WrongLabels)
        return m_report.labelIssues[std::size_t(item)].path;
    if (currentList() == Outliers)
        return m_report.outliers[std::size_t(item)].path;
    return {};
}

QImage DataIssuesView::largeImage(const QString &path, int side) const
{
    QImageReader reader(path);
    reader.setAutoTransform(true);
    const QImage image = reader.read();
    if (image.isNull())
        return {};
    // Small images (28 px) are enlarged by whole pixels, so their pixels stay visible as pixels.
    const int longest = std::max(image.width(), image.height());
    if (longest < side) {
        const int factor = std::max(1, side / longest);
        return image.scaled(image.size() * factor, Qt::KeepAspectRatio, Qt::FastTransformation);
    }
    return image.scaled(side, side, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

void DataIssuesView::updateDetail()
{
    const List list = currentList();
    const int item = currentItem(list);
    const bool empty = item < 0;
    // Before any audit, the pane says what Find issues does instead of leaving the tab blank.
    const QString none = !m_loaded
        ? tr("<b>No audit open.</b><p>Find issues trains a few models on this folder, each on the "
             "others' images, and lists what they find: images in the wrong class folder, the "
             "same picture twice (and copies in a test folder: leaks), outliers, and classes the "
             "models confuse. A duplicates-only audit takes seconds. Open audit... shows an "
             "earlier one.</p>")
        : tr("Nothing left to review here.");
    switch (list) {
    case WrongLabels: {
        m_labelButtons->setEnabled(!empty);
        if (empty) {
            m_labelImage->clear();
            m_labelText->setText(none);
            m_relabelSuggested->setText(tr("Relabel (R)"));
            break;
        }
        const AuditLabelIssue &issue = m_report.labelIssues[std::size_t(item)];
        m_labelImage->setPixmap(QPixmap::fromImage(largeImage(issue.path, 224)));
        QString text = tr("<b>%1</b><br>Given: <b>%2</b> · suggested: <b>%3</b> · label quality "
                          "%4<br>")
                           .arg(QFileInfo(issue.path).fileName().toHtmlEscaped(),
                               issue.given.toHtmlEscaped(), issue.suggested.toHtmlEscaped())
                           .arg(issue.score, 0, 'g', 2);
        const auto top = m_top.value(issue.path);
        if (top.isEmpty()) {
            text += tr("Probabilities: not in this audit folder.");
        } else {
            QStringList parts;
            for (const auto &p : top)
                parts << QStringLiteral("%1 %2").arg(p.first.toHtmlEscaped(), percent(p.second));
            text += tr("Top 3: %1").arg(parts.join(QStringLiteral(" · ")));
        }
        m_labelText->setText(text);
        m_labelText->setToolTip(QDir::toNativeSeparators(issue.path));
        m_relabelSuggested->setText(tr("Relabel to %1 (R)").arg(issue.suggested));
        break;
    }
    case Duplicates: {
        m_dupButtons->setEnabled(!empty);
        auto *grid = static_cast<QGridLayout *>(m_dupRow->layout());
        while (QLayoutItem *child = grid->takeAt(0)) {
            delete child->widget();
            delete child;
        }
        if (empty) {
            m_dupText->setText(none);
            break;
        }
        const AuditDuplicateGroup &g = m_report.duplicates[std::size_t(item)];
        QString text = g.kind == AuditDuplicateGroup::Kind::Exact
            ? tr("The same pixels, %1 times.").arg(g.images.size())
            : tr("Near copies: %1 images.").arg(g.images.size());
        if (g.leak)
            text += u' '
                + tr("<b>Leak</b>: copies in more than one split make the held-out figure lie.");
        if (g.conflict)
            text += u' ' + tr("<b>Labels differ</b> between the copies.");
        text += u' '
            + tr("Keep one (1-%1), the others are excluded.")
                  .arg(std::min(int(g.images.size()), 9));
        m_dupText->setText(text);
        const int shown = std::min(int(g.images.size()), kMaxCards);
        const int columns = 4;
        for (int i = 0; i < shown; ++i) {
            const AuditImage &image = g.images[std::size_t(i)];
            auto *card = new QFrame(m_dupRow);
            card->setFrameShape(QFrame::StyledPanel);
            auto *v = new QVBoxLayout(card);
            auto *picture = new QLabel(card);
            picture->setAlignment(Qt::AlignCenter);
            picture->setPixmap(QPixmap::fromImage(largeImage(image.path, 112)));
            auto *caption = new QLabel(QStringLiteral("%1 · %2\n%3")
                                           .arg(auditSplitName(image.split), image.label,
                                               QFileInfo(image.path).fileName()),
                card);
            caption->setAlignment(Qt::AlignCenter);
            caption->setToolTip(QDir::toNativeSeparators(image.path));
            const bool decided = reviewed(folderOf(image.split), image.path);
            auto *keep = new QPushButton(decided ? tr("decided")
                    : i < 9                      ? tr("Keep this (%1)").arg(i + 1)
                                                 : tr("Keep this"),
                card);
            keep->setObjectName(QStringLiteral("keepOnly%1").arg(i));
            keep->setEnabled(!decided);
            keep->setFocusPolicy(Qt::TabFocus);
            connect(keep, &QPushButton::clicked, this, [this, i] { keepOnly(i); });
            v->addWidget(picture);
            v->addWidget(caption);
            v->addWidget(keep);
            grid->addWidget(card, i / columns, i % columns);
            card->show(); // now, not on the next event loop pass (a grab right after sees it)
        }
        if (int(g.images.size()) > shown)
            grid->addWidget(
                new QLabel(tr("and %1 more").arg(int(g.images.size()) - shown), m_dupRow),
                shown / columns, shown % columns);
        break;
    }
    case Outliers: {
        m_outlierButtons->setEnabled(!empty);
        if (empty) {
            m_outlierImage->clear();
            m_outlierText->setText(none);
            break;
        }
        const AuditOutlier &o = m_report.outliers[std::size_t(item)];
        m_outlierImage->setPixmap(QPixmap::fromImage(largeImage(o.path, 224)));
        m_outlierText->setText(tr("<b>%1</b><br>In class <b>%2</b> · distance score %3 (higher is "
                                  "further from every class, or nearly constant)")
                                   .arg(QFileInfo(o.path).fileName().toHtmlEscaped(),
                                       className(o.path).toHtmlEscaped())
                                   .arg(o.score, 0, 'g', 3));
        m_outlierText->setToolTip(QDir::toNativeSeparators(o.path));
        break;
    }
    case OverlappingClasses: {
        QVector<IssueListModel::Row> rows;
        if (empty) {
            m_overlapText->setText(m_loaded && m_report.folds == 0
                    ? tr("A duplicates-only audit has no overlapping classes: Find issues with "
                         "training.")
                    : none);
        } else {
            const AuditClassOverlap &o = m_report.overlappingClasses[std::size_t(item)];
            const QString train = folderOf(AuditSplit::Train);
            for (std::size_t i = 0; i < m_report.labelIssues.size(); ++i) {
                const AuditLabelIssue &issue = m_report.labelIssues[i];
                if (!((issue.given == o.classA && issue.suggested == o.classB)
                        || (issue.given == o.classB && issue.suggested == o.classA))
                    || reviewed(train, issue.path))
                    continue;
                rows.push_back(
                    { int(i), QStringLiteral("%1 → %2").arg(issue.given, issue.suggested),
                        QDir::toNativeSeparators(issue.path), issue.path, thumbKey(issue.path) });
            }
            m_overlapText->setText(
                tr("The models often swap <b>%1</b> and <b>%2</b>: %3 of their images. Many such "
                   "label issues hint that the two classes overlap: merge them, or sharpen what "
                   "goes where. %4 of them are still to review (Enter: review one).")
                    .arg(o.classA.toHtmlEscaped(), o.classB.toHtmlEscaped(), percent(o.share))
                    .arg(rows.size()));
        }
        m_overlapModel->setRows(rows);
        break;
    }
    }
}

void DataIssuesView::showError(const QString &message)
{
    m_error->setText(message);
    m_error->show();
}

void DataIssuesView::clearError()
{
    m_error->clear();
    m_error->hide();
}

QString DataIssuesView::errorText() const
{
    return m_error->isVisible() || !m_error->isHidden() ? m_error->text() : QString();
}

QString DataIssuesView::detailText() const
{
    switch (currentList()) {
    case WrongLabels:
        return m_labelText->text();
    case Duplicates:
        return m_dupText->text();
    case Outliers:
        return m_outlierText->text();
    case OverlappingClasses:
        return m_overlapText->text();
    }
    return {};
}

namespace {

// Takes DECISION back; a corrections file the review created and left empty goes too, so an undo
// leaves the folder as it found it.
template <typename D> bool takeBack(const D &decision, QString *error)
{
    if (!restoreCorrection(decision.dataDir, decision.path, decision.previous, error))
        return false;
    if (!decision.fileWasThere) {
        const std::optional<Corrections> left = Corrections::read(decision.dataDir, nullptr);
        if (left && left->isEmpty())
            QFile::remove(Corrections::filePath(decision.dataDir));
    }
    return true;
}

} // namespace

// Records each (data folder, decision) pair; all or, when one fails, none of them stay.
bool DataIssuesView::apply(QVector<QPair<QString, Correction>> decisions, List list, int item)
{
    Step step { {}, list, item };
    for (const auto &[dir, c] : decisions) {
        QString error;
        std::optional<Correction> previous;
        const bool fileWasThere = QFileInfo::exists(Corrections::filePath(dir));
        if (!recordCorrection(dir, classFolders(dir), c, &previous, &error)) {
            for (auto it = step.decisions.crbegin(); it != step.decisions.crend(); ++it)
                takeBack(*it, nullptr);
            showError(error);
            reloadCorrections();
            return false;
        }
        step.decisions.push_back({ dir, c.path, previous, fileWasThere });
    }
    clearError();
    m_undo.push_back(step);
    const int row = m_views[list]->currentIndex().row();
    reloadCorrections();
    for (int l = 0; l < 4; ++l)
        rebuild(List(l), -1, l == list ? row : -1);
    updateTabTitles();
    updateDetail();
    QStringList dirs;
    for (const Decision &d : step.decisions)
        if (!dirs.contains(d.dataDir))
            dirs << d.dataDir;
    for (const QString &dir : dirs)
        Q_EMIT correctionsChanged(dir);
    return true;
}

bool DataIssuesView::relabelToSuggestion()
{
    if (currentList() != WrongLabels || currentItem(WrongLabels) < 0)
        return false;
    return relabelTo(m_report.labelIssues[std::size_t(currentItem(WrongLabels))].suggested);
}

bool DataIssuesView::relabelTo(const QString &label)
{
    const int item = currentItem(WrongLabels);
    if (currentList() != WrongLabels || item < 0)
        return false;
    const AuditLabelIssue &issue = m_report.labelIssues[std::size_t(item)];
    const QString dir = folderOf(AuditSplit::Train);
    Correction c;
    c.path = Corrections::relativePath(dir, issue.path);
    c.action = CorrectionAction::Relabel;
    c.label = label;
    return apply({ { dir, c } }, WrongLabels, item);
}

bool DataIssuesView::excludeCurrent()
{
    const List list = currentList();
    const QString path = currentPath();
    if (path.isEmpty())
        return false;
    const QString dir = folderOf(AuditSplit::Train);
    Correction c;
    c.path = Corrections::relativePath(dir, path);
    c.action = CorrectionAction::Exclude;
    return apply({ { dir, c } }, list, currentItem(list));
}

bool DataIssuesView::keepCurrent()
{
    const List list = currentList();
    const int item = currentItem(list);
    if (item < 0)
        return false;
    QVector<QPair<QString, Correction>> decisions;
    const auto keep = [&](const QString &dir, const QString &path) {
        if (dir.isEmpty() || reviewed(dir, path))
            return;
        Correction c;
        c.path = Corrections::relativePath(dir, path);
        c.action = CorrectionAction::Keep;
        decisions.push_back({ dir, c });
    };
    if (list == Duplicates) {
        for (const AuditImage &image : m_report.duplicates[std::size_t(item)].images)
            keep(folderOf(image.split), image.path);
    } else if (list == WrongLabels || list == Outliers) {
        keep(folderOf(AuditSplit::Train), currentPath());
    }
    return !decisions.isEmpty() && apply(decisions, list, item);
}

bool DataIssuesView::keepOnly(int image)
{
    const int item = currentItem(Duplicates);
    if (currentList() != Duplicates || item < 0)
        return false;
    const AuditDuplicateGroup &g = m_report.duplicates[std::size_t(item)];
    if (image < 0 || image >= int(g.images.size()))
        return false;
    QVector<QPair<QString, Correction>> decisions;
    for (int i = 0; i < int(g.images.size()); ++i) {
        const AuditImage &im = g.images[std::size_t(i)];
        const QString dir = folderOf(im.split);
        if (dir.isEmpty() || reviewed(dir, im.path))
            continue;
        Correction c;
        c.path = Corrections::relativePath(dir, im.path);
        c.action = i == image ? CorrectionAction::Keep : CorrectionAction::Exclude;
        decisions.push_back({ dir, c });
    }
    return !decisions.isEmpty() && apply(decisions, Duplicates, item);
}

void DataIssuesView::next()
{
    QListView *view = m_views[currentList()];
    const int rows = view->model()->rowCount();
    if (rows == 0)
        return;
    const int row = (view->currentIndex().row() + 1) % rows;
    view->setCurrentIndex(view->model()->index(row, 0));
}

bool DataIssuesView::undo()
{
    if (m_undo.isEmpty())
        return false;
    const Step step = m_undo.takeLast();
    QString error;
    bool ok = true;
    for (auto it = step.decisions.crbegin(); it != step.decisions.crend(); ++it)
        ok = takeBack(*it, &error) && ok;
    if (!ok)
        showError(error);
    else
        clearError();
    reloadCorrections();
    for (int l = 0; l < 4; ++l)
        rebuild(List(l), l == step.list ? step.item : -1);
    setCurrentList(step.list);
    updateTabTitles();
    updateDetail();
    QStringList dirs;
    for (const Decision &d : step.decisions)
        if (!dirs.contains(d.dataDir))
            dirs << d.dataDir;
    for (const QString &dir : dirs)
        Q_EMIT correctionsChanged(dir);
    return ok;
}

bool DataIssuesView::findIssues(
    bool duplicatesOnly, int folds, int epochs, const QString &test, QString *error)
{
    const auto refuse = [&](const QString &message) {
        showError(message);
        if (error)
            *error = message;
        return false;
    };
    if (m_job)
        return refuse(tr("An audit is already running."));
    if (m_folder.isEmpty())
        return refuse(tr("Open a data folder first."));
    if (!duplicatesOnly && m_classes.size() < 2)
        return refuse(tr("%1 has %2 class folder(s): finding label issues needs at least two "
                         "classes (one sub-folder per class).")
                          .arg(QDir::toNativeSeparators(m_folder))
                          .arg(m_classes.size()));
    AuditOptions options;
    options.data = m_folder;
    options.test = test.isEmpty() ? QString() : QDir(test).absolutePath();
    options.duplicatesOnly = duplicatesOnly;
    LabelAuditOptions labels;
    const QString dir = auditDirFor(m_folder);
    RunConfig &run = labels.crossFold.run;
    if (epochs > 0) {
        run.epochs = epochs; // exactly these, as --epochs does
        labels.crossFold.minimumSteps = 0;
    }
    run.dataDir = m_folder;
    run.outDir = dir;
    labels.crossFold.folds = folds;
    labels.crossFold.auditDir = dir;
    clearError();
    m_job = std::make_unique<AuditJob>(options, labels, dir);
    connect(m_job.get(), &AuditJob::progress, this, [this](const QString &text, double fraction) {
        m_progressText->setText(text);
        m_progress->setRange(0, fraction < 0 ? 0 : 1000);
        if (fraction >= 0)
            m_progress->setValue(int(fraction * 1000));
        Q_EMIT auditProgress(text, fraction);
    });
    connect(m_job.get(), &AuditJob::finished, this, &DataIssuesView::onAuditFinished);
    connect(m_job.get(), &AuditJob::failed, this, [this](const QString &message) {
        m_job.release()->deleteLater();
        m_find->setEnabled(true);
        m_open->setEnabled(true);
        m_cancel->hide();
        m_progress->hide();
        m_progressText->clear();
        if (message == QLatin1String("cancelled"))
            m_progressText->setText(
                tr("Audit stopped: Find issues goes on from its finished folds."));
        else
            showError(tr("The audit failed: %1").arg(message));
        Q_EMIT auditFinished(false);
    });
    m_find->setEnabled(false);
    m_open->setEnabled(false);
    m_cancel->show();
    m_progress->setRange(0, 0);
    m_progress->show();
    m_progressText->setText(tr("starting"));
    m_job->start();
    return true;
}

void DataIssuesView::onAuditFinished(const QString &auditDir, const QStringList &warnings)
{
    m_job.release()->deleteLater();
    m_find->setEnabled(true);
    m_open->setEnabled(true);
    m_cancel->hide();
    m_progress->hide();
    m_progressText->clear();
    const bool ok = openAudit(auditDir);
    if (ok && !warnings.isEmpty())
        showError(warnings.join(u'\n'));
    Q_EMIT auditFinished(ok);
}

void DataIssuesView::cancelAudit()
{
    if (m_job)
        m_job->cancel();
}

} // namespace leantune
