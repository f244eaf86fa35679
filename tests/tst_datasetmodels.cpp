// Data set browser models and widget: every model under QAbstractItemModelTester; the thumbnail
// grid decodes only the rows it shows, visible rows first, off the GUI thread, with a bounded
// cache, and stays fast on 60 000 images; the browser scans in the background (progress, cancel,
// invalid files with reasons, size statistics, preview); the run table sorts by raw values.

#include "guitestdata.h"

#include "widgets/dataset/classhistogram.h"
#include "widgets/dataset/classlistmodel.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/dataset/invalidfilemodel.h"
#include "widgets/dataset/thumbnailloader.h"
#include "widgets/dataset/thumbnailmodel.h"
#include "widgets/runs/runtablemodel.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QLabel>
#include <QListView>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStyle>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

using namespace leantune;

namespace {

// An index of N entries that all point at one real PNG (decoding works; nothing is on disk 60 000
// times).
std::shared_ptr<DatasetIndex> bigIndex(const QString &png, int n, int classes)
{
    auto index = std::make_shared<DatasetIndex>();
    index->root = QFileInfo(png).absolutePath();
    for (int k = 0; k < classes; ++k)
        index->classes << QStringLiteral("class%1").arg(k);
    index->images.resize(size_t(n));
    for (int i = 0; i < n; ++i) {
        ImageEntry &e = index->images[size_t(i)];
        e.path = png;
        e.label = i % classes;
        e.width = e.height = 28;
        e.channels = 1;
        e.bytes = 300;
        e.format = ImageFormat::Png;
    }
    return index;
}

} // namespace

class TestDatasetModels : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_png;

private Q_SLOTS:
    void initTestCase()
    {
        QImage img(28, 28, QImage::Format_Grayscale8);
        img.fill(90);
        m_png = m_dir.filePath(QStringLiteral("one.png"));
        QVERIFY(img.save(m_png));
    }

    void classListModel()
    {
        ClassListModel model;
        QAbstractItemModelTester tester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setClasses({ QStringLiteral("cat"), QStringLiteral("dog"), QStringLiteral("fox") },
            { 100, 40, 60 });
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.total(), 200);
        QCOMPARE(model.imbalanceRatio(), 2.5);
        QCOMPARE(model.index(1, ClassListModel::ShareColumn).data().toString(),
            QStringLiteral("20.0 %"));
        // The small class stands out.
        QVERIFY(model.index(1, 0).data(Qt::ForegroundRole).isValid());
        QVERIFY(!model.index(0, 0).data(Qt::ForegroundRole).isValid());

        QSortFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        proxy.setSortRole(ClassListModel::SortRole);
        QAbstractItemModelTester proxyTester(
            &proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.sort(ClassListModel::CountColumn, Qt::DescendingOrder);
        QCOMPARE(proxy.index(0, 0).data().toString(), QStringLiteral("cat"));
        QCOMPARE(proxy.index(2, 0).data().toString(), QStringLiteral("dog"));
        model.setClasses({}, {});
        QCOMPARE(model.imbalanceRatio(), 0.0);
    }

    void invalidFileModel()
    {
        InvalidFileModel model;
        QAbstractItemModelTester tester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setFiles(QStringLiteral("/data"),
            { { QStringLiteral("/data/a/x.png"), QStringLiteral("truncated PNG") },
                { QStringLiteral("/data/b/y.jpg"), QStringLiteral("not an image") } });
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.index(0, InvalidFileModel::FileColumn).data().toString(),
            QStringLiteral("a/x.png"));
        QCOMPARE(model.index(1, InvalidFileModel::ReasonColumn).data().toString(),
            QStringLiteral("not an image"));
        QCOMPARE(model.path(1), QStringLiteral("/data/b/y.jpg"));
        QCOMPARE(model.path(7), QString());
    }

    void thumbnailModelUnderTester()
    {
        ThumbnailModel model;
        QAbstractItemModelTester tester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setIndex(bigIndex(m_png, 50, 5));
        QCOMPARE(model.rowCount(), 50);
        model.setClassFilter(3);
        QCOMPARE(model.rowCount(), 10);
        QCOMPARE(model.index(0).data(ThumbnailModel::LabelRole).toInt(), 3);
        QCOMPARE(model.index(1).data(ThumbnailModel::ImageIndexRole).toInt(), 8);
        QVERIFY(
            model.index(0).data(Qt::ToolTipRole).toString().contains(QStringLiteral("28×28 PNG")));
        // Asking for a decoration requests a decode; the thumbnail arrives on the GUI thread.
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QVERIFY(model.index(0).data(Qt::DecorationRole).canConvert<QPixmap>());
        QTRY_VERIFY(!changed.isEmpty());
        QVERIFY(model.loader()->isCached(3));
        model.setClassFilter(-1);
        QCOMPARE(model.rowCount(), 50);
        model.setIndex(nullptr);
        QCOMPARE(model.rowCount(), 0);
    }

    void thumbnailsDecodeOffTheGuiThread()
    {
        ThumbnailLoader loader({ 32, 32 });
        // The request returns at once with a null image; the decoded result comes later through the
        // event loop, from the loader's thread pool.
        QSignalSpy ready(&loader, &ThumbnailLoader::thumbnailReady);
        QVERIFY(loader.thumbnail(1, m_png).isNull());
        QTRY_COMPARE(ready.count(), 1);
        QVERIFY(!loader.thumbnail(1, m_png).isNull());
        QCOMPARE(loader.decodeCount(), 1);
        // A file that does not decode gets a placeholder once, not a retry storm.
        QVERIFY(loader.thumbnail(2, m_dir.filePath(QStringLiteral("missing.png"))).isNull());
        QTRY_COMPARE(ready.count(), 2);
        QCOMPARE(loader.failedCount(), 1);
        QVERIFY(!loader.thumbnail(2, QString()).isNull());
    }

    void cacheIsBounded()
    {
        ThumbnailLoader loader({ 32, 32 });
        loader.setCacheLimitBytes(10 * 1024); // ten small thumbnails (cost: at least 1 KiB each)
        QSignalSpy ready(&loader, &ThumbnailLoader::thumbnailReady);
        for (int i = 0; i < 40; ++i)
            loader.thumbnail(i, m_png);
        QTRY_COMPARE_WITH_TIMEOUT(ready.count(), 40, 20000);
        int cached = 0;
        for (int i = 0; i < 40; ++i)
            cached += loader.isCached(i) ? 1 : 0;
        QVERIFY2(cached <= 10 && cached > 0, qPrintable(QString::number(cached)));
    }

    void retainOnlyDropsScrolledAwayRequests()
    {
        ThumbnailLoader loader({ 32, 32 });
        for (int i = 0; i < 500; ++i)
            loader.thumbnail(i, m_png);
        loader.retainOnly(490, 499);
        QTRY_COMPARE(loader.pendingCount(), 0);
        QVERIFY2(loader.decodeCount() < 100, qPrintable(QString::number(loader.decodeCount())));
        QVERIFY(loader.isCached(499)); // the newest requests (the rows on screen) are served first
    }

    void sixtyThousandImagesStaySmooth()
    {
        ThumbnailModel model;
        QElapsedTimer t;
        t.start();
        model.setIndex(bigIndex(m_png, 60000, 10));
        QVERIFY2(t.elapsed() < 1000, qPrintable(QString::number(t.elapsed())));

        QListView view;
        view.setViewMode(QListView::IconMode);
        view.setUniformItemSizes(true);
        view.setResizeMode(QListView::Adjust);
        view.setIconSize(QSize(72, 72));
        view.setGridSize(QSize(82, 82));
        view.resize(820, 500);
        t.restart();
        view.setModel(&model);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const qint64 firstPaint = t.elapsed();
        QVERIFY2(firstPaint < 3000, qPrintable(QString::number(firstPaint)));
        // Only what is on screen is decoded: about 10 × 6 cells, not 60 000.
        QTRY_VERIFY(model.loader()->decodeCount() > 0);
        QTRY_COMPARE(model.loader()->pendingCount(), 0);
        const int onScreen = model.loader()->decodeCount();
        QVERIFY2(onScreen <= 200, qPrintable(QString::number(onScreen)));

        // Jump to the end: the last rows are decoded, the rows in between never are.
        t.restart();
        view.scrollToBottom();
        QCoreApplication::processEvents();
        QVERIFY2(t.elapsed() < 1000, qPrintable(QString::number(t.elapsed())));
        QTRY_VERIFY(model.loader()->isCached(59999));
        QVERIFY(!model.loader()->isCached(30000));
        QTRY_COMPARE(model.loader()->pendingCount(), 0);
        QVERIFY2(model.loader()->decodeCount() <= 2 * onScreen + 100,
            qPrintable(QString::number(model.loader()->decodeCount())));
    }

    void browserScansAndPreviews()
    {
        QTemporaryDir dir;
        const QString root = dir.filePath(QStringLiteral("pets"));
        guitestdata::writeImageFolder(root, 3, 0, 20, 7, { 30, 12, 30 });
        guitestdata::writeBadFiles(QDir(root).filePath(QStringLiteral("class0")));

        DatasetBrowser browser;
        browser.resize(1000, 700);
        browser.show();
        QAbstractItemModelTester t1(
            browser.classModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(
            browser.thumbnailModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t3(
            browser.invalidModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy finished(&browser, &DatasetBrowser::scanFinished);
        browser.openFolder(root);
        QVERIFY(browser.isScanning() || !finished.isEmpty());
        QTRY_COMPARE(finished.count(), 1);
        QVERIFY(!browser.isScanning());

        QCOMPARE(browser.classModel()->rowCount(), 3);
        QCOMPARE(browser.classModel()
                     ->index(1, ClassListModel::CountColumn)
                     .data(ClassListModel::SortRole)
                     .toInt(),
            12);
        QCOMPARE(browser.histogram()->barCount(), 3);
        QCOMPARE(browser.thumbnailModel()->rowCount(), 72);
        QCOMPARE(browser.invalidModel()->rowCount(), 2);
        QStringList reasons;
        for (int r = 0; r < 2; ++r)
            reasons << browser.invalidModel()
                           ->index(r, InvalidFileModel::ReasonColumn)
                           .data()
                           .toString();
        QVERIFY2(!reasons.first().isEmpty() && !reasons.last().isEmpty(),
            qPrintable(reasons.join(QLatin1Char('|'))));
        const QString stats
            = browser.dataChecks()->findChild<QLabel *>(QStringLiteral("sizeStats"))->text();
        QVERIFY2(stats.contains(QStringLiteral("min 20 · median 20 · max 20")), qPrintable(stats));

        browser.setClassFilter(1);
        QCOMPARE(browser.thumbnailModel()->rowCount(), 12);
        browser.thumbnailView()->setCurrentIndex(browser.thumbnailModel()->index(0));
        const QString preview = browser.previewText();
        QVERIFY2(preview.contains(QStringLiteral("class1")), qPrintable(preview));
        QVERIFY2(preview.contains(QStringLiteral("20 × 20 pixels")), qPrintable(preview));
        QVERIFY2(preview.contains(QStringLiteral("PNG")), qPrintable(preview));
        QVERIFY2(preview.contains(QStringLiteral("0000.png")), qPrintable(preview));
    }

    // The grid's columns share the view's width: the strip left at the right edge is at most a
    // pixel per column plus the scroll bar's width, at any width, and no cell is narrower than a
    // thumbnail.
    void thumbnailGridFillsTheViewWidth()
    {
        QTemporaryDir dir;
        guitestdata::writeImageFolder(dir.path(), 2, 40, 20);
        DatasetBrowser browser;
        browser.resize(1000, 700);
        browser.show();
        QSignalSpy finished(&browser, &DatasetBrowser::scanFinished);
        browser.openFolder(dir.path());
        QTRY_COMPARE(finished.count(), 1);
        QListView *view = browser.thumbnailView();
        const int cell = browser.thumbnailModel()->loader()->thumbnailSize().width() + 10;
        const int scrollBar = view->style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, view);
        for (const int width : { 1000, 1093, 1237, 1400 }) {
            browser.resize(width, 700);
            QCoreApplication::processEvents();
            QTRY_VERIFY(view->visualRect(browser.thumbnailModel()->index(0)).isValid());
            const QSize grid = view->gridSize();
            QVERIFY2(grid.width() >= cell, qPrintable(QString::number(grid.width())));
            const int top = view->visualRect(browser.thumbnailModel()->index(0)).top();
            int columns = 0;
            while (view->visualRect(browser.thumbnailModel()->index(columns)).top() == top)
                ++columns;
            const int strip = view->viewport()->width() - columns * grid.width();
            QVERIFY2(strip >= 0 && strip <= columns + scrollBar,
                qPrintable(QStringLiteral("width %1: %2 columns of %3 px, %4 px left")
                               .arg(width)
                               .arg(columns)
                               .arg(grid.width())
                               .arg(strip)));
        }
    }

    void browserScanFailsAndCancels()
    {
        DatasetBrowser browser;
        QSignalSpy failed(&browser, &DatasetBrowser::scanFailed);
        browser.openFolder(m_dir.filePath(QStringLiteral("no-such-folder")));
        QTRY_COMPARE(failed.count(), 1);

        QTemporaryDir dir;
        guitestdata::writeImageFolder(dir.path(), 2, 1500, 8);
        QSignalSpy finished(&browser, &DatasetBrowser::scanFinished);
        browser.openFolder(dir.path());
        browser.cancelScan(); // returns once the worker has stopped
        QVERIFY(!browser.isScanning());
        QCoreApplication::processEvents();
        QCOMPARE(finished.count(), 0);

        // Destroying the browser during a scan waits for the worker.
        auto other = std::make_unique<DatasetBrowser>();
        other->openFolder(dir.path());
        other.reset();
    }

    void runTableModelSorts()
    {
        RunTableModel model;
        QAbstractItemModelTester tester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVector<StoredRun> runs;
        for (int i = 0; i < 3; ++i) {
            StoredRun r;
            r.id = i + 1;
            r.created = QDateTime::currentDateTimeUtc().addSecs(-3600 * i);
            r.status = QStringLiteral("finished");
            r.config.batchSize = 32 << i;
            r.config.outDir = QStringLiteral("/runs/r%1").arg(i);
            r.hasSummary = true;
            r.summary.valAccuracy = 0.9 - 0.1 * i;
            r.summary.imagesPerSec = 1000.0 * (3 - i);
            r.summary.peakHostRssBytes = 100'000'000ll * (i + 1);
            r.summary.finalSparsity = 0.1 * i;
            runs << r;
        }
        runs[1].summary.peakDeviceBytes = 5'000'000'000ll; // CUDA run: the device peak counts
        model.setRuns(runs);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(RunTableModel::peakMemory(runs[1]), 5'000'000'000ll);
        QCOMPARE(model.index(0, RunTableModel::AccuracyColumn).data().toString(),
            QStringLiteral("90.00 %"));

        QSortFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        proxy.setSortRole(RunTableModel::SortRole);
        QAbstractItemModelTester proxyTester(
            &proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.sort(RunTableModel::PeakMemoryColumn, Qt::DescendingOrder);
        QCOMPARE(proxy.index(0, 0).data(RunTableModel::RunIdRole).toLongLong(), 2);
        proxy.sort(RunTableModel::BatchColumn, Qt::DescendingOrder);
        QCOMPARE(proxy.index(0, 0).data(RunTableModel::RunIdRole).toLongLong(), 3);
        proxy.sort(RunTableModel::ThroughputColumn, Qt::DescendingOrder);
        QCOMPARE(proxy.index(0, 0).data(RunTableModel::RunIdRole).toLongLong(), 1);
        proxy.sort(RunTableModel::DateColumn, Qt::AscendingOrder);
        QCOMPARE(proxy.index(0, 0).data(RunTableModel::RunIdRole).toLongLong(), 3);
        QCOMPARE(model.rowOf(3), 2);
        model.setRuns({});
        QCOMPARE(model.rowCount(), 0);
    }
};

QTEST_MAIN(TestDatasetModels)
#include "tst_datasetmodels.moc"
