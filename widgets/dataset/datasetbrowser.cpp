#include "widgets/dataset/datasetbrowser.h"

#include "widgets/dataset/classhistogram.h"
#include "widgets/dataset/classlistmodel.h"
#include "dataset/datasetscanner.h"
#include "widgets/dataset/invalidfilemodel.h"
#include "widgets/dataset/thumbnailloader.h"
#include "widgets/dataset/thumbnailmodel.h"

#include <QAction>
#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImageReader>
#include <QLabel>
#include <QListView>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStyle>
#include <QStringBuilder>
#include <QTableView>
#include <QTextDocument>
#include <QThread>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>

namespace leantune {

DatasetBrowser::DatasetBrowser(QWidget *parent)
    : QWidget(parent)
    , m_thumbnails(new ThumbnailModel(this))
    , m_classes(new ClassListModel(this))
    , m_invalid(new InvalidFileModel(this))
    , m_classProxy(new QSortFilterProxyModel(this))
{
    qRegisterMetaType<DatasetIndex>();
    m_classProxy->setSourceModel(m_classes);
    m_classProxy->setSortRole(ClassListModel::SortRole);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);

    auto *header = new QHBoxLayout;
    m_summary = new QLabel(tr("No data folder open. Use File → Open data folder."), this);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_filter = new QComboBox(this);
    m_filter->setObjectName(QStringLiteral("classFilter"));
    m_filter->setMinimumContentsLength(18);
    m_filter->setEnabled(false);
    header->addWidget(m_summary, 1);
    header->addWidget(new QLabel(tr("Show:"), this));
    header->addWidget(m_filter);
    layout->addLayout(header);

    m_scanBar = new QWidget(this);
    auto *scanLayout = new QHBoxLayout(m_scanBar);
    scanLayout->setContentsMargins(0, 0, 0, 0);
    m_progress = new QProgressBar(m_scanBar);
    m_progress->setFormat(tr("Scanning: %v of %m files"));
    m_cancel = new QPushButton(tr("Cancel scan"), m_scanBar);
    scanLayout->addWidget(m_progress, 1);
    scanLayout->addWidget(m_cancel);
    m_scanBar->hide();
    layout->addWidget(m_scanBar);

    auto *split = new QSplitter(Qt::Horizontal, this);
    m_view = new QListView(split);
    m_view->setObjectName(QStringLiteral("thumbnails"));
    m_view->setViewMode(QListView::IconMode);
    m_view->setResizeMode(QListView::Adjust);
    m_view->setMovement(QListView::Static);
    m_view->setUniformItemSizes(true); // no size query per row: layout of 60 000 rows stays cheap
    m_view->setLayoutMode(QListView::Batched);
    m_view->setBatchSize(2000);
    m_view->setIconSize(m_thumbnails->loader()->thumbnailSize());
    fitGridToWidth(); // again at each of the view's resizes
    m_view->setSpacing(2);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setModel(m_thumbnails);
    m_view->installEventFilter(this);
    m_predictAction = new QAction(tr("Predict with..."), m_view);
    m_predictAction->setObjectName(QStringLiteral("predictWith"));
    m_predictAction->setToolTip(tr("Classify the selected images with a run or an exported model"));
    m_view->addAction(m_predictAction);
    m_view->setContextMenuPolicy(Qt::ActionsContextMenu);

    auto *preview = new QWidget(split);
    auto *previewLayout = new QVBoxLayout(preview);
    m_previewImage = new QLabel(preview);
    m_previewImage->setAlignment(Qt::AlignCenter);
    m_previewImage->setMinimumSize(240, 240);
    m_previewImage->setFrameShape(QFrame::StyledPanel);
    m_previewImage->setText(tr("Click an image for a larger preview"));
    m_previewImage->setWordWrap(true);
    m_previewDetails = new QLabel(preview);
    m_previewDetails->setObjectName(QStringLiteral("previewDetails"));
    m_previewDetails->setWordWrap(true);
    m_previewDetails->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_previewDetails->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    previewLayout->addWidget(m_previewImage, 1);
    previewLayout->addWidget(m_previewDetails);
    split->addWidget(m_view);
    split->addWidget(preview);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    m_classPanel = buildClassPanel();
    m_checksPanel = buildChecksPanel();

    connect(m_cancel, &QPushButton::clicked, this, &DatasetBrowser::cancelScan);
    connect(m_predictAction, &QAction::triggered, this, [this] {
        QModelIndexList rows = m_view->selectionModel()->selectedIndexes();
        if (rows.isEmpty() && m_view->currentIndex().isValid())
            rows << m_view->currentIndex();
        std::sort(rows.begin(), rows.end());
        QStringList images;
        for (const QModelIndex &row : std::as_const(rows))
            images << row.data(ThumbnailModel::PathRole).toString();
        if (!images.isEmpty())
            Q_EMIT predictRequested(images);
    });
    connect(m_filter, qOverload<int>(&QComboBox::activated), this, [this](int i) {
        m_thumbnails->setClassFilter(m_filter->itemData(i).toInt());
        updatePreview();
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
        &DatasetBrowser::updatePreview);
    connect(m_thumbnails, &QAbstractItemModel::modelReset, this, [this] {
        connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &DatasetBrowser::updatePreview, Qt::UniqueConnection);
    });
    connect(m_view->verticalScrollBar(), &QScrollBar::valueChanged, this,
        &DatasetBrowser::updateVisibleRows);
    connect(m_view->verticalScrollBar(), &QScrollBar::rangeChanged, this,
        &DatasetBrowser::updateVisibleRows);
}

DatasetBrowser::~DatasetBrowser()
{
    if (m_scanThread) {
        m_scanner->cancel();
        m_scanThread->quit();
        m_scanThread->wait();
        m_scanner.reset();
    }
}

QWidget *DatasetBrowser::buildClassPanel()
{
    auto *panel = new QWidget(this);
    panel->setObjectName(QStringLiteral("classOverview"));
    auto *layout = new QVBoxLayout(panel);
    layout->setContentsMargins(4, 4, 4, 4);
    m_classTable = new QTableView(panel);
    m_classTable->setModel(m_classProxy);
    m_classTable->setSortingEnabled(true);
    m_classTable->sortByColumn(-1, Qt::AscendingOrder);
    m_classTable->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_classTable->setSelectionMode(QAbstractItemView::SingleSelection);
    m_classTable->verticalHeader()->hide();
    m_classTable->verticalHeader()->setDefaultSectionSize(m_classTable->fontMetrics().height() + 6);
    m_classTable->horizontalHeader()->setSectionResizeMode(
        ClassListModel::NameColumn, QHeaderView::Stretch);
    m_classTable->setToolTip(tr("Double-click a class to show only its images"));
    m_histogram = new ClassHistogram(panel);
    layout->addWidget(m_classTable, 1);
    layout->addWidget(m_histogram, 1);
    connect(m_classTable, &QTableView::doubleClicked, this, [this](const QModelIndex &index) {
        setClassFilter(m_classProxy->mapToSource(index).row());
    });
    return panel;
}

QWidget *DatasetBrowser::buildChecksPanel()
{
    auto *panel = new QWidget(this);
    panel->setObjectName(QStringLiteral("dataChecks"));
    auto *layout = new QVBoxLayout(panel);
    layout->setContentsMargins(4, 4, 4, 4);
    m_stats = new QLabel(tr("No data set scanned yet."), panel);
    m_stats->setObjectName(QStringLiteral("sizeStats"));
    m_stats->setWordWrap(true);
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_invalidTable = new QTableView(panel);
    m_invalidTable->setModel(m_invalid);
    m_invalidTable->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_invalidTable->setSelectionMode(QAbstractItemView::SingleSelection);
    m_invalidTable->verticalHeader()->hide();
    m_invalidTable->verticalHeader()->setDefaultSectionSize(
        m_invalidTable->fontMetrics().height() + 6);
    m_invalidTable->horizontalHeader()->setStretchLastSection(true);
    m_invalidTable->setToolTip(tr("Double-click a file to show it in the file manager"));
    // A reason cut at the dock's width is read whole here (and in the row's tool tip).
    m_invalidDetail = new QLabel(panel);
    m_invalidDetail->setObjectName(QStringLiteral("invalidDetail"));
    m_invalidDetail->setWordWrap(true);
    m_invalidDetail->setTextFormat(Qt::RichText);
    m_invalidDetail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_invalidDetail->hide();
    m_showInvalid = new QPushButton(tr("Show in file manager"), panel);
    m_showInvalid->setEnabled(false);
    layout->addWidget(m_stats);
    layout->addWidget(m_invalidTable, 1);
    layout->addWidget(m_invalidDetail);
    layout->addWidget(m_showInvalid, 0, Qt::AlignRight);
    connect(m_invalidTable, &QTableView::doubleClicked, this,
        [this](const QModelIndex &index) { showInvalidFile(index.row()); });
    connect(m_invalidTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
        [this](const QModelIndex &current) {
            m_showInvalid->setEnabled(current.isValid());
            m_invalidDetail->setText(current.isValid()
                    ? current.siblingAtColumn(InvalidFileModel::ReasonColumn)
                          .data(Qt::ToolTipRole)
                          .toString()
                    : QString());
            m_invalidDetail->setVisible(current.isValid());
        });
    connect(m_showInvalid, &QPushButton::clicked, this,
        [this] { showInvalidFile(m_invalidTable->currentIndex().row()); });
    return panel;
}

void DatasetBrowser::showInvalidFile(int row)
{
    QString error;
    if (showInFileManager(m_invalid->path(row), &error))
        return;
    const QModelIndex index = m_invalid->index(row, InvalidFileModel::ReasonColumn);
    m_invalidDetail->setText(index.data(Qt::ToolTipRole).toString()
        + QStringLiteral("<p style=\"color:#b00020\">") + error.toHtmlEscaped()
        + QStringLiteral("</p>"));
    m_invalidDetail->show();
}

QString DatasetBrowser::invalidDetailText() const
{
    QTextDocument document;
    document.setHtml(m_invalidDetail->text());
    return m_invalidDetail->isVisibleTo(m_checksPanel) ? document.toPlainText() : QString();
}

bool DatasetBrowser::showInFileManager(const QString &path, QString *error)
{
    if (path.isEmpty())
        return false;
    const QFileInfo info(path);
    const QString folder = info.isDir() ? info.absoluteFilePath() : info.absolutePath();
    if (!QFileInfo(folder).isDir()) {
        if (error)
            *error = tr("%1 is not there any more.").arg(QDir::toNativeSeparators(folder));
        return false;
    }
    if (QDesktopServices::openUrl(QUrl::fromLocalFile(folder)))
        return true;
    if (error)
        *error = tr("No file manager opened %1: open it yourself (the path can be copied).")
                     .arg(QDir::toNativeSeparators(folder));
    return false;
}

void DatasetBrowser::showPreparing(const QString &text, int done, int total)
{
    if (isScanning() || !m_folder.isEmpty())
        return;
    if (text.isEmpty()) {
        m_summary->setText(tr("No data folder open. Use File → Open data folder."));
        m_scanBar->hide();
        return;
    }
    m_summary->setText(text);
    m_progress->setFormat(tr("%v of %m images"));
    m_progress->setRange(0, std::max(total, 0));
    m_progress->setValue(done);
    m_cancel->hide(); // nothing to cancel: the import ends on its own
    m_scanBar->show();
}

void DatasetBrowser::openFolder(const QString &path)
{
    cancelScan();
    m_folder = QFileInfo(path).absoluteFilePath();
    m_summary->setText(tr("Scanning %1 ...").arg(QDir::toNativeSeparators(m_folder)));
    m_progress->setFormat(tr("Scanning: %v of %m files"));
    m_progress->setRange(0, 0);
    m_cancel->show();
    m_scanBar->show();

    m_scanner = std::make_unique<DatasetScanner>(m_folder);
    m_scanThread = new QThread(this);
    m_scanThread->setObjectName(QStringLiteral("scanner"));
    m_scanner->moveToThread(m_scanThread);
    connect(m_scanThread, &QThread::started, m_scanner.get(), &DatasetScanner::start);
    const quint64 generation = ++m_scanGeneration;
    connect(
        m_scanner.get(), &DatasetScanner::progress, this, [this, generation](int done, int total) {
            if (generation != m_scanGeneration)
                return;
            m_progress->setRange(0, std::max(total, 1));
            m_progress->setValue(done);
            Q_EMIT scanProgress(done, total);
        });
    connect(m_scanner.get(), &DatasetScanner::finished, this,
        [this, generation](const DatasetIndex &index) {
            if (generation == m_scanGeneration && m_scanThread)
                onScanFinished(index);
        });
    connect(
        m_scanner.get(), &DatasetScanner::failed, this, [this, generation](const QString &message) {
            if (generation == m_scanGeneration && m_scanThread)
                onScanFailed(message);
        });
    m_scanThread->start();
    Q_EMIT scanStarted(m_folder);
}

void DatasetBrowser::endScan()
{
    if (!m_scanThread)
        return;
    m_scanThread->quit();
    m_scanThread->wait(); // start() has returned: the thread ends at once
    m_scanner.reset();
    delete m_scanThread;
    m_scanThread = nullptr;
    m_scanBar->hide();
}

void DatasetBrowser::cancelScan()
{
    if (!m_scanThread)
        return;
    m_scanner->cancel();
    ++m_scanGeneration; // whatever the worker still reports is stale
    endScan();
    m_summary->setText(m_index ? m_summary->text() : tr("Scan cancelled."));
}

void DatasetBrowser::onScanFailed(const QString &message)
{
    endScan();
    m_summary->setText(tr("Cannot read %1: %2").arg(QDir::toNativeSeparators(m_folder), message));
    Q_EMIT scanFailed(message);
}

void DatasetBrowser::onScanFinished(const DatasetIndex &index)
{
    endScan();
    m_index = std::make_shared<const DatasetIndex>(index);
    const QVector<int> counts = index.classCounts();
    m_thumbnails->setIndex(m_index);
    m_classes->setClasses(index.classes, counts);
    m_classTable->resizeColumnsToContents();
    m_histogram->setCounts(index.classes, counts);
    m_invalid->setFiles(index.root, index.invalid);
    m_invalidTable->resizeColumnToContents(InvalidFileModel::FileColumn);

    const QLocale locale;
    m_summary->setText(
        tr("<b>%1</b> · %2 images in %3 classes · %4 · %5 invalid")
            .arg(QFileInfo(index.root).fileName().toHtmlEscaped(),
                locale.toString(qint64(index.images.size())), locale.toString(index.classes.size()),
                locale.formattedDataSize(index.totalBytes()),
                locale.toString(qint64(index.invalid.size()))));
    m_filter->clear();
    m_filter->addItem(tr("All classes (%1)").arg(locale.toString(qint64(index.images.size()))), -1);
    for (int i = 0; i < index.classes.size(); ++i)
        m_filter->addItem(
            QStringLiteral("%1 (%2)").arg(index.classes[i], locale.toString(counts.value(i))), i);
    m_filter->setEnabled(true);

    const SizeStats s = index.sizeStats();
    QString stats = tr("<b>Image sizes</b> (pixels)<br>"
                       "width: min %1 · median %2 · max %3<br>"
                       "height: min %4 · median %5 · max %6")
                        .arg(s.minWidth)
                        .arg(s.medianWidth)
                        .arg(s.maxWidth)
                        .arg(s.minHeight)
                        .arg(s.medianHeight)
                        .arg(s.maxHeight);
    stats += index.invalid.empty()
        ? tr("<br><br>Every file is a readable image.")
        : tr("<br><br><b>%n file(s) left out</b> - they will never reach training:", nullptr,
            int(index.invalid.size()));
    // What the folder's corrections file changed (the Data issues view writes it), so the counts
    // above are not mistaken for the folders' own.
    if (const QString corrections = index.correctionsSummary(); !corrections.isEmpty())
        stats = tr("<b>Corrections:</b> %1; nothing on disk moved (leantune-cli "
                   "apply-corrections moves the files).<br><br>")
                    .arg(corrections.toHtmlEscaped())
            + stats;
    m_stats->setText(stats);
    if (m_thumbnails->rowCount() > 0)
        m_view->setCurrentIndex(m_thumbnails->index(0)); // the preview shows the first image
    updatePreview();
    Q_EMIT scanFinished(index);
}

void DatasetBrowser::setClassFilter(int label)
{
    const int i = m_filter->findData(label);
    if (i < 0)
        return;
    m_filter->setCurrentIndex(i);
    m_thumbnails->setClassFilter(label);
    updatePreview();
}

bool DatasetBrowser::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_view && event->type() == QEvent::Resize)
        fitGridToWidth();
    return QWidget::eventFilter(watched, event);
}

void DatasetBrowser::fitGridToWidth()
{
    const QSize cell = m_thumbnails->loader()->thumbnailSize() + QSize(10, 10);
    // The scroll bar's width is always set aside, so that its showing or hiding cannot change the
    // column count and lay the grid out again.
    const int width = m_view->contentsRect().width()
        - m_view->style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, m_view);
    const int columns = std::max(1, width / cell.width());
    const QSize grid(std::max(cell.width(), width / columns), cell.height());
    if (m_view->gridSize() != grid)
        m_view->setGridSize(grid);
}

void DatasetBrowser::updateVisibleRows()
{
    const QModelIndex first = m_view->indexAt(QPoint(4, 4));
    const QModelIndex last
        = m_view->indexAt(m_view->viewport()->rect().bottomRight() - QPoint(4, 4));
    if (!first.isValid())
        return;
    const int perPage = last.isValid() ? last.row() - first.row() + 1 : 200;
    m_thumbnails->setVisibleRows(
        first.row() - perPage, (last.isValid() ? last.row() : first.row() + 200) + perPage);
}

void DatasetBrowser::updatePreview()
{
    const ImageEntry *e = m_thumbnails->entry(m_view->currentIndex().row());
    if (!e || !m_index) {
        m_previewImage->setPixmap(QPixmap());
        m_previewImage->setText(tr("Click an image for a larger preview"));
        m_previewDetails->clear();
        return;
    }
    const QSize box = m_previewImage->size().boundedTo(QSize(512, 512)).expandedTo(QSize(160, 160))
        - QSize(8, 8);
    QString error;
    QImage image = ThumbnailLoader::decode(e->path, box, &error);
    if (!image.isNull() && image.width() < box.width() / 2 && image.height() < box.height() / 2)
        image = image.scaled(
            box, Qt::KeepAspectRatio, Qt::FastTransformation); // small images: crisp pixels
    if (image.isNull())
        m_previewImage->setText(tr("Cannot decode this file: %1").arg(error));
    else
        m_previewImage->setPixmap(QPixmap::fromImage(image));
    const QLocale locale;
    m_previewDetails->setText(tr(
        "<b>%1</b><br>class: %2<br>%3 × %4 pixels, %5 channel(s)<br>format: %6<br>file size: %7<br>"
        "<small>%8</small>")
                                  .arg(QFileInfo(e->path).fileName().toHtmlEscaped(),
                                      m_index->classes.value(e->label).toHtmlEscaped())
                                  .arg(e->width)
                                  .arg(e->height)
                                  .arg(e->channels)
                                  .arg(imageFormatName(e->format),
                                      locale.formattedDataSize(e->bytes),
                                      QDir::toNativeSeparators(e->path).toHtmlEscaped()));
}

QString DatasetBrowser::previewText() const
{
    QTextDocument doc;
    doc.setHtml(m_previewDetails->text());
    return doc.toPlainText();
}

} // namespace leantune
