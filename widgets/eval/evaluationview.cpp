#include "widgets/eval/evaluationview.h"

#include "widgets/dataset/datasetbrowser.h"
#include "widgets/eval/classfiguresmodel.h"
#include "widgets/eval/confusionmatrixplot.h"
#include "widgets/eval/evaluationjob.h"
#include "widgets/eval/predictionimagemodel.h"
#include "train/rundir.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListView>
#include <QLocale>
#include <QMenu>
#include <QProgressBar>
#include <QRegularExpression>
#include <QPushButton>
#include <QSaveFile>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStringBuilder>
#include <QTableView>
#include <QToolTip>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace leantune {

namespace {

QString percent(double v, int decimals = 2)
{
    return QString::number(100.0 * v, 'f', decimals) + QStringLiteral(" %");
}

// "1 image", "12 images" (no translation is loaded, so tr's %n would keep "(s)").
QString imagesText(qint64 n)
{
    return n == 1 ? QStringLiteral("1 image") : QStringLiteral("%1 images").arg(n);
}

QString points(double v)
{
    const double p = 100.0 * v;
    return (p > 0.05           ? QStringLiteral("+")
                   : p < -0.05 ? QStringLiteral("−")
                               : QString())
        + QString::number(std::abs(p), 'f', 1);
}

// RUNDIR's predictions file: the test pass's, else the last validation pass's. Empty: neither.
QString runPredictionsFile(const QString &runDir, bool *validation)
{
    const QDir dir(runDir);
    *validation = false;
    if (QFileInfo::exists(dir.filePath(QStringLiteral("predictions.csv"))))
        return dir.filePath(QStringLiteral("predictions.csv"));
    *validation = true;
    if (QFileInfo::exists(dir.filePath(QStringLiteral("predictions-val.csv"))))
        return dir.filePath(QStringLiteral("predictions-val.csv"));
    return {};
}

} // namespace

EvaluationView::EvaluationView(QWidget *parent)
    : QWidget(parent)
    , m_figures(new ClassFiguresModel(this))
    , m_figuresProxy(new QSortFilterProxyModel(this))
    , m_imageModel(new PredictionImageModel(this))
    , m_job(new EvaluationJob(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto *header = new QHBoxLayout;
    m_title = new QLabel(tr("Select a run in the run history and press Evaluation."), this);
    m_title->setObjectName(QStringLiteral("evaluationTitle"));
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setWordWrap(true);
    QFont bold = m_title->font();
    bold.setBold(true);
    m_title->setFont(bold);
    header->addWidget(m_title, 1);
    header->addWidget(new QLabel(tr("Show:"), this));
    m_modeBox = new QComboBox(this);
    m_modeBox->setObjectName(QStringLiteral("matrixMode"));
    m_modeBox->addItem(tr("Counts"));
    m_modeBox->addItem(tr("Row-normalized (%)"));
    m_modeBox->setToolTip(tr("Images per cell, or the share of each true class's images"));
    header->addWidget(m_modeBox);
    m_folderButton = new QPushButton(tr("Evaluate on a folder..."), this);
    m_folderButton->setObjectName(QStringLiteral("evaluateFolder"));
    m_folderButton->setToolTip(tr("Evaluate this run's model on another data folder with the same "
                                  "classes, in the background"));
    m_modelButton = new QPushButton(tr("Evaluate a model file..."), this);
    m_modelButton->setObjectName(QStringLiteral("evaluateModel"));
    m_modelButton->setToolTip(tr("Evaluate an exported model (.onnx, or a LibTorch .pt) or a run "
                                 "folder on a data folder, in the background"));
    header->addWidget(m_folderButton);
    header->addWidget(m_modelButton);
    layout->addLayout(header);

    auto *running = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("evaluationProgress"));
    m_progress->setFormat(tr("evaluating: %v of %m images"));
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_cancelButton->setObjectName(QStringLiteral("cancelEvaluation"));
    running->addWidget(m_progress, 1);
    running->addWidget(m_cancelButton);
    layout->addLayout(running);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("evaluationMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_message->hide();
    layout->addWidget(m_message);

    auto *vertical = new QSplitter(Qt::Vertical, this);
    auto *horizontal = new QSplitter(Qt::Horizontal, vertical);
    m_matrix = new ConfusionMatrixPlot(horizontal);
    auto *right = new QWidget(horizontal);
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    m_figuresLine = new QLabel(right);
    m_figuresLine->setObjectName(QStringLiteral("evaluationFigures"));
    m_figuresLine->setWordWrap(true);
    m_figuresLine->setTextInteractionFlags(Qt::TextSelectableByMouse);
    rightLayout->addWidget(m_figuresLine);
    m_figuresProxy->setSourceModel(m_figures);
    m_figuresProxy->setSortRole(ClassFiguresModel::ValueRole);
    m_table = new QTableView(right);
    m_table->setObjectName(QStringLiteral("classFigures"));
    m_table->setModel(m_figuresProxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder); // class order until the user sorts
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(
        ClassFiguresModel::ClassColumn, QHeaderView::Stretch);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setAlternatingRowColors(true);
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    rightLayout->addWidget(m_table, 3);
    auto *pairsTitle = new QLabel(tr("Most confused pairs (click to see the images):"), right);
    rightLayout->addWidget(pairsTitle);
    m_pairs = new QTreeWidget(right);
    m_pairs->setObjectName(QStringLiteral("confusedPairs"));
    m_pairs->setRootIsDecorated(false);
    m_pairs->setColumnCount(3);
    m_pairs->setHeaderLabels({ tr("True → predicted"), tr("Images"), tr("Of the true class") });
    m_pairs->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_pairs->header()->setStretchLastSection(true);
    m_pairs->setAlternatingRowColors(true);
    rightLayout->addWidget(m_pairs, 2);
    horizontal->addWidget(m_matrix);
    horizontal->addWidget(right);
    horizontal->setStretchFactor(0, 3);
    horizontal->setStretchFactor(1, 2);

    auto *bottom = new QWidget(vertical);
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    m_imagesTitle
        = new QLabel(tr("Click a cell of the matrix or a pair to see its images."), bottom);
    m_imagesTitle->setObjectName(QStringLiteral("imagesTitle"));
    bottomLayout->addWidget(m_imagesTitle);
    m_images = new QListView(bottom);
    m_images->setObjectName(QStringLiteral("cellImages"));
    // Thumbnails with their text beside them, in rows: one row of them fits a short window.
    m_images->setViewMode(QListView::ListMode);
    m_images->setFlow(QListView::LeftToRight);
    m_images->setWrapping(true);
    m_images->setResizeMode(QListView::Adjust);
    m_images->setMovement(QListView::Static);
    m_images->setUniformItemSizes(true);
    m_images->setLayoutMode(QListView::Batched);
    const QSize thumb = QSize(84, 84);
    m_images->setIconSize(thumb);
    m_images->setGridSize(QSize(thumb.width() + 21 * m_images->fontMetrics().averageCharWidth(),
        std::max(thumb.height(), 4 * m_images->fontMetrics().lineSpacing()) + 8));
    m_images->setMinimumHeight(m_images->gridSize().height() + 2 * m_images->frameWidth() + 4);
    m_images->setModel(m_imageModel);
    bottomLayout->addWidget(m_images);
    vertical->addWidget(horizontal);
    vertical->addWidget(bottom);
    vertical->setStretchFactor(0, 3);
    vertical->setStretchFactor(1, 2);
    layout->addWidget(vertical, 1);

    connect(m_modeBox, &QComboBox::currentIndexChanged, this, [this] { refreshMatrix(); });
    connect(m_matrix, &ConfusionMatrixPlot::cellClicked, this, &EvaluationView::selectCell);
    connect(m_pairs, &QTreeWidget::itemClicked, this, [this](QTreeWidgetItem *item) {
        selectCell(item->data(0, Qt::UserRole).toInt(), item->data(0, Qt::UserRole + 1).toInt());
    });
    connect(m_images, &QListView::doubleClicked, this, [this](const QModelIndex &index) {
        QString error;
        const QString path = index.data(PredictionImageModel::PathRole).toString();
        if (!DatasetBrowser::showInFileManager(path, &error))
            showMessage(error, true);
    });
    connect(m_table, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        QMenu menu(this);
        menu.addAction(tr("Save table as CSV..."), this, [this] {
            const QString path = QFileDialog::getSaveFileName(this, tr("Save per-class figures"),
                QStringLiteral("per-class.csv"), tr("CSV table (*.csv)"));
            QString error;
            if (!path.isEmpty() && !saveFigures(path, &error))
                QToolTip::showText(QCursor::pos(), error, this);
        });
        menu.addAction(tr("Save matrix as PNG, PDF or CSV..."), this, [this] {
            const QString path = QFileDialog::getSaveFileName(this, tr("Save confusion matrix"),
                QStringLiteral("confusion-matrix.png"),
                tr("PNG image (*.png);;PDF document (*.pdf);;CSV table (*.csv)"));
            QString error;
            if (!path.isEmpty() && !m_matrix->save(path, &error))
                QToolTip::showText(QCursor::pos(), error, this);
        });
        menu.exec(m_table->viewport()->mapToGlobal(pos));
    });
    connect(m_folderButton, &QPushButton::clicked, this, &EvaluationView::chooseFolder);
    connect(m_modelButton, &QPushButton::clicked, this, &EvaluationView::chooseModel);
    connect(m_cancelButton, &QPushButton::clicked, this, &EvaluationView::cancelEvaluation);
    connect(m_job, &EvaluationJob::progress, this, [this](qint64 done, qint64 total) {
        m_progress->setRange(0, int(std::max<qint64>(1, total)));
        m_progress->setValue(int(std::min(done, total)));
    });
    connect(m_job, &EvaluationJob::finished, this, &EvaluationView::onEvaluationFinished);
    connect(m_job, &EvaluationJob::failed, this, &EvaluationView::onEvaluationFailed);
    setRunning(false);
    clearView();
}

EvaluationView::~EvaluationView() = default;

const EvaluationSummary *EvaluationView::summary() const
{
    return m_shown ? &m_shown->summary : nullptr;
}

QString EvaluationView::messageText() const
{
    return m_message->isHidden() ? QString() : m_message->text();
}

QString EvaluationView::figuresText() const
{
    return m_figuresLine->text();
}

QStringList EvaluationView::shownImagePaths() const
{
    return m_imageModel->paths();
}

QStringList EvaluationView::confusedPairTexts() const
{
    QStringList out;
    for (int i = 0; i < m_pairs->topLevelItemCount(); ++i) {
        const QTreeWidgetItem *item = m_pairs->topLevelItem(i);
        out << item->text(0) % QStringLiteral(": ") % item->text(1);
    }
    return out;
}

void EvaluationView::showMessage(const QString &text, bool error)
{
    m_message->setText(text);
    m_message->setStyleSheet(error ? QStringLiteral("QLabel { color: #b00020; }")
                                   : QStringLiteral("QLabel { color: #7a5a00; }"));
    m_message->setVisible(!text.isEmpty());
}

void EvaluationView::clearView()
{
    m_shown.reset();
    m_other.reset();
    m_file.clear();
    m_matrix->clear();
    m_figures->clear();
    m_pairs->clear();
    m_imageModel->clear();
    m_figuresLine->clear();
    m_imagesTitle->setText(tr("Click a cell of the matrix or a pair to see its images."));
    m_modeBox->setEnabled(true);
}

void EvaluationView::setRunning(bool running)
{
    m_progress->setVisible(running);
    m_cancelButton->setVisible(running);
    m_cancelButton->setEnabled(running);
    m_folderButton->setEnabled(!running && !m_source.isEmpty());
    m_modelButton->setEnabled(!running);
    if (running) {
        m_progress->setRange(0, 0);
        m_progress->setValue(0);
    }
}

QString EvaluationView::predictionsFileFor(const QString &model, const QString &dataDir)
{
    QString folder = QFileInfo(QDir::cleanPath(dataDir)).fileName();
    folder.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9._-]")), QStringLiteral("_"));
    if (folder.isEmpty())
        folder = QStringLiteral("data");
    const QFileInfo info(model);
    if (info.isDir())
        return QDir(model).filePath(QStringLiteral("predictions-%1.csv").arg(folder));
    return info.absoluteFilePath() + QStringLiteral(".predictions-%1.csv").arg(folder);
}

bool EvaluationView::showRun(const QString &runDir, const QString &title)
{
    if (m_job->isRunning()) {
        showMessage(tr("An evaluation is running; cancel it first."), true);
        return false;
    }
    clearView();
    showMessage({}, false);
    const QString name = title.isEmpty() ? QFileInfo(runDir).fileName() : title;
    m_title->setText(name);
    m_source.clear();
    QString error;
    const std::optional<RunInfo> info = readRunInfo(runDir, &error);
    if (!info) {
        showMessage(
            tr("Cannot evaluate %1: %2").arg(QDir::toNativeSeparators(runDir), error), true);
        setRunning(false);
        return false;
    }
    m_source = runDir;
    setRunning(false);
    bool validation = false;
    const QString file = runPredictionsFile(runDir, &validation);
    if (!file.isEmpty())
        return showPredictions(file, info->classNames,
            name % (validation ? tr(" · validation set") : tr(" · test set")));
    const QString test = info->config.testDir;
    if (!test.isEmpty() && QFileInfo(test).isDir()) {
        m_pendingTitle = name % tr(" · test set");
        return evaluate(runDir, test, QDir(runDir).filePath(QStringLiteral("predictions.csv")));
    }
    showMessage(tr("This run has no predictions file and no test folder. Press \"Evaluate on a "
                   "folder...\" to evaluate its model on a data folder with its classes."),
        false);
    return false;
}

bool EvaluationView::showPredictions(
    const QString &file, const QStringList &classes, const QString &title)
{
    QString error;
    std::optional<PredictionsFile> read = readPredictions(file, &error);
    std::optional<EvaluationSummary> summary;
    if (read)
        summary = summarizePredictions(*read, classes, &error);
    if (!summary) {
        clearView();
        showMessage(error, true);
        return false;
    }
    const QString source = m_source;
    clearView();
    m_file = file;
    m_title->setText(title);
    Shown shown;
    shown.title = title;
    shown.source = source;
    shown.file = std::make_shared<const PredictionsFile>(std::move(*read));
    shown.summary = std::move(*summary);
    m_shown = std::move(shown);
    const EvaluationSummary &s = m_shown->summary;
    if (s.images == 0)
        showMessage(tr("%1 has no labelled images.").arg(QDir::toNativeSeparators(file)), true);
    m_figures->setSummary(s);
    m_table->setColumnHidden(ClassFiguresModel::PrecisionColumn, false);
    m_table->setColumnHidden(ClassFiguresModel::SupportColumn, false);
    m_table->sortByColumn(-1, Qt::AscendingOrder);
    m_figuresProxy->sort(-1);
    const QLocale locale;
    m_figuresLine->setText(tr("Accuracy %1 · macro F1 %2 · top-%3 accuracy %4 · %5 images")
                               .arg(percent(s.accuracy))
                               .arg(s.macroF1, 0, 'f', 4)
                               .arg(s.topK)
                               .arg(percent(s.topKAccuracy), locale.toString(s.images)));
    m_figuresLine->setToolTip(QDir::toNativeSeparators(file));
    m_modeBox->setEnabled(true);
    refreshMatrix();
    refreshPairs();
    return true;
}

bool EvaluationView::compareRuns(
    const QString &runDirA, const QString &titleA, const QString &runDirB, const QString &titleB)
{
    if (m_job->isRunning()) {
        showMessage(tr("An evaluation is running; cancel it first."), true);
        return false;
    }
    showMessage({}, false);
    std::optional<Shown> loaded[2];
    const QString dirs[2] = { runDirA, runDirB };
    const QString titles[2] = { titleA, titleB };
    for (int i = 0; i < 2; ++i) {
        QString error;
        const std::optional<RunInfo> info = readRunInfo(dirs[i], &error);
        bool validation = false;
        const QString file = info ? runPredictionsFile(dirs[i], &validation) : QString();
        if (info && file.isEmpty())
            error = tr("%1 has no predictions file: open it alone with Evaluation first")
                        .arg(titles[i]);
        std::optional<PredictionsFile> read;
        if (!file.isEmpty())
            read = readPredictions(file, &error);
        std::optional<EvaluationSummary> summary;
        if (read)
            summary = summarizePredictions(*read, info->classNames, &error);
        if (!summary) {
            clearView();
            m_title->setText(tr("%1 − %2").arg(titleA, titleB));
            showMessage(tr("Cannot compare: %1").arg(error), true);
            return false;
        }
        Shown s;
        s.title = titles[i] % (validation ? tr(" (validation set)") : QString());
        s.source = dirs[i];
        s.file = std::make_shared<const PredictionsFile>(std::move(*read));
        s.summary = std::move(*summary);
        loaded[i] = std::move(s);
    }
    QString error;
    if (!normalizedDifference(loaded[0]->summary, loaded[1]->summary, &error)) {
        clearView();
        showMessage(tr("Cannot compare: %1").arg(error), true);
        return false;
    }
    clearView();
    m_source = runDirA;
    m_shown = std::move(loaded[0]);
    m_other = std::move(loaded[1]);
    m_file = QDir(runDirA).filePath(QStringLiteral("predictions.csv"));
    m_title->setText(tr("%1 − %2: row-normalized difference").arg(m_shown->title, m_other->title));
    const EvaluationSummary &a = m_shown->summary, &b = m_other->summary;
    m_figures->setSummary(a, b);
    // Room for the changes: precision and support are the first run's, shown when it is alone.
    m_table->setColumnHidden(ClassFiguresModel::PrecisionColumn, true);
    m_table->setColumnHidden(ClassFiguresModel::SupportColumn, true);
    m_figuresProxy->sort(-1);
    m_figuresLine->setText(
        tr("Accuracy %1 − %2 = %3 points · macro F1 %4 − %5 · top-%6 %7 − %8")
            .arg(percent(a.accuracy), percent(b.accuracy), points(a.accuracy - b.accuracy))
            .arg(a.macroF1, 0, 'f', 4)
            .arg(b.macroF1, 0, 'f', 4)
            .arg(a.topK)
            .arg(percent(a.topKAccuracy), percent(b.topKAccuracy)));
    m_modeBox->setEnabled(false);
    refreshMatrix();
    refreshPairs();
    setRunning(false);
    return true;
}

void EvaluationView::setNormalized(bool normalized)
{
    m_modeBox->setCurrentIndex(normalized ? 1 : 0);
}

void EvaluationView::refreshMatrix()
{
    if (!m_shown) {
        m_matrix->clear();
        return;
    }
    const EvaluationSummary &a = m_shown->summary;
    if (m_other) {
        m_matrix->setMatrix(a.classes, *normalizedDifference(a, m_other->summary, nullptr),
            ConfusionMatrixPlot::Mode::Difference);
    } else if (m_modeBox->currentIndex() == 1) {
        m_matrix->setMatrix(a.classes, a.rowNormalized(), ConfusionMatrixPlot::Mode::Rates);
    } else {
        QVector<QVector<double>> counts;
        for (const QVector<int> &row : a.confusion)
            counts.push_back(QVector<double>(row.begin(), row.end()));
        m_matrix->setMatrix(a.classes, counts, ConfusionMatrixPlot::Mode::Counts);
    }
    updateCellToolTips();
}

void EvaluationView::updateCellToolTips()
{
    m_matrix->setToolTipProvider([this](int t, int p) -> QString {
        if (!m_shown)
            return {};
        const EvaluationSummary &a = m_shown->summary;
        const QString head = tr("true %1, predicted %2").arg(a.classes[t], a.classes[p]);
        const QVector<QVector<double>> ra = a.rowNormalized();
        const QString own
            = tr("%1, %2 of %3")
                  .arg(imagesText(a.confusion[t][p]), percent(ra[t][p], 1), a.classes[t]);
        if (!m_other)
            return head % QLatin1Char('\n') % own % QLatin1Char('\n')
                % tr("Click to see the images");
        const EvaluationSummary &b = m_other->summary;
        const QVector<QVector<double>> rb = b.rowNormalized();
        return head % QLatin1Char('\n') % m_shown->title % QStringLiteral(": ") % own
            % QLatin1Char('\n') % m_other->title % QStringLiteral(": ")
            % tr("%1, %2").arg(imagesText(b.confusion[t][p]), percent(rb[t][p], 1))
            % QLatin1Char('\n') % tr("difference %1 points").arg(points(ra[t][p] - rb[t][p]))
            % QLatin1Char('\n') % tr("Click to see the images of %1").arg(m_shown->title);
    });
}

void EvaluationView::refreshPairs()
{
    m_pairs->clear();
    if (!m_shown)
        return;
    const EvaluationSummary &a = m_shown->summary;
    if (!m_other) {
        m_pairs->setHeaderLabels({ tr("True → predicted"), tr("Images"), tr("Of the true class") });
        for (const ConfusedPair &pair : a.confusedPairs(25)) {
            auto *item = new QTreeWidgetItem(m_pairs);
            item->setText(
                0, a.classes[pair.label] % QStringLiteral(" → ") % a.classes[pair.predicted]);
            item->setText(1, QString::number(pair.count));
            item->setText(2, percent(pair.rate, 1));
            item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
            item->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
            item->setData(0, Qt::UserRole, pair.label);
            item->setData(0, Qt::UserRole + 1, pair.predicted);
        }
        return;
    }
    // Comparing: the cells that changed most, the diagonal (recall) included.
    m_pairs->setHeaderLabels({ tr("True → predicted"), tr("Change (points)"), tr("Rates") });
    const QVector<QVector<double>> d = *normalizedDifference(a, m_other->summary, nullptr);
    const QVector<QVector<double>> ra = a.rowNormalized(), rb = m_other->summary.rowNormalized();
    struct Cell {
        int t, p;
        double change;
    };
    QVector<Cell> cells;
    for (int t = 0; t < d.size(); ++t)
        for (int p = 0; p < d[t].size(); ++p)
            if (std::abs(d[t][p]) >= 0.0005)
                cells.push_back({ t, p, d[t][p] });
    std::sort(cells.begin(), cells.end(), [](const Cell &x, const Cell &y) {
        return std::abs(x.change) != std::abs(y.change)
            ? std::abs(x.change) > std::abs(y.change)
            : std::make_pair(x.t, x.p) < std::make_pair(y.t, y.p);
    });
    if (cells.size() > 25)
        cells.resize(25);
    for (const Cell &c : cells) {
        auto *item = new QTreeWidgetItem(m_pairs);
        item->setText(0, a.classes[c.t] % QStringLiteral(" → ") % a.classes[c.p]);
        item->setText(1, points(c.change));
        item->setText(
            2, percent(ra[c.t][c.p], 1) % QStringLiteral(" vs ") % percent(rb[c.t][c.p], 1));
        // The matrix's colours: red where the first run has the lower share.
        item->setForeground(1, c.change < 0 ? QColor(178, 24, 43) : QColor(33, 102, 172));
        item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
        item->setData(0, Qt::UserRole, c.t);
        item->setData(0, Qt::UserRole + 1, c.p);
    }
}

void EvaluationView::selectCell(int label, int predicted)
{
    if (!m_shown)
        return;
    const EvaluationSummary &a = m_shown->summary;
    if (label < 0 || predicted < 0 || label >= a.classes.size() || predicted >= a.classes.size())
        return;
    const QString &t = a.classes[label], &p = a.classes[predicted];
    QVector<int> rows;
    const QVector<Prediction> &all = m_shown->file->rows;
    for (int i = 0; i < all.size(); ++i)
        if (all[i].label == t && all[i].predicted == p)
            rows << i;
    m_imageModel->setRows(m_shown->file, rows);
    m_images->scrollToTop();
    const QString where = m_other ? tr(" in %1").arg(m_shown->title) : QString();
    m_imagesTitle->setText(label == predicted
            ? tr("%1 predicted correctly%2: %3, most confident first")
                  .arg(t, where, imagesText(rows.size()))
            : tr("True %1, predicted %2%3: %4, most confident first (double-click opens the "
                 "image's folder)")
                  .arg(t, p, where, imagesText(rows.size())));
}

void EvaluationView::cancelEvaluation()
{
    if (m_job->isRunning()) {
        m_job->cancel();
        m_cancelButton->setEnabled(false);
        m_progress->setFormat(tr("cancelling..."));
    }
}

bool EvaluationView::evaluate(
    const QString &model, const QString &dataDir, const QString &predictionsFile)
{
    QString error;
    if (!m_job->start(model, dataDir, predictionsFile, &error)) {
        showMessage(error, true);
        return false;
    }
    if (m_pendingTitle.isEmpty())
        m_pendingTitle = QFileInfo(model).fileName() % tr(" on ") % QFileInfo(dataDir).fileName();
    m_source = model;
    showMessage(tr("Evaluating %1 on %2...")
                    .arg(QDir::toNativeSeparators(model), QDir::toNativeSeparators(dataDir)),
        false);
    m_progress->setFormat(tr("evaluating: %v of %m images"));
    setRunning(true);
    return true;
}

void EvaluationView::onEvaluationFinished(const QString &file, const EvaluationReport &report)
{
    const QString title = std::exchange(m_pendingTitle, QString());
    setRunning(false);
    showMessage({}, false);
    const bool ok = showPredictions(file, report.classes, title);
    if (ok && report.skipped > 0)
        showMessage(
            tr("%1 could not be decoded and were left out.")
                .arg(report.skipped == 1 ? tr("1 file") : tr("%1 files").arg(report.skipped)),
            false);
    Q_EMIT evaluationEnded(ok);
}

void EvaluationView::onEvaluationFailed(const QString &message)
{
    m_pendingTitle.clear();
    setRunning(false);
    showMessage(message == QLatin1String("evaluation cancelled")
            ? tr("Evaluation cancelled; no predictions file was written.")
            : tr("Evaluation failed: %1").arg(message),
        message != QLatin1String("evaluation cancelled"));
    Q_EMIT evaluationEnded(false);
}

void EvaluationView::chooseFolder()
{
    if (m_source.isEmpty())
        return;
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Evaluate on a data folder"));
    if (dir.isEmpty())
        return;
    m_pendingTitle = QFileInfo(m_source).fileName() % tr(" on ") % QFileInfo(dir).fileName();
    evaluate(m_source, dir, predictionsFileFor(m_source, dir));
}

void EvaluationView::chooseModel()
{
    const QString model = QFileDialog::getOpenFileName(
        this, tr("Evaluate a model file"), {}, tr("Exported models (*.onnx *.pt);;All files (*)"));
    if (model.isEmpty())
        return;
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Data folder with the model's classes"), QFileInfo(model).absolutePath());
    if (dir.isEmpty())
        return;
    m_pendingTitle = QFileInfo(model).fileName() % tr(" on ") % QFileInfo(dir).fileName();
    evaluate(model, dir, predictionsFileFor(model, dir));
}

bool EvaluationView::saveFigures(const QString &path, QString *error) const
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(m_figures->toCsv().toUtf8()) < 0
        || !file.commit()) {
        if (error)
            *error = tr("cannot write %1").arg(path);
        return false;
    }
    return true;
}

} // namespace leantune
