// The hostile-input catalogue (tests/fixtures/make-hostile.sh) in the real data set browser: every
// rejected entry is in the invalid-file list with its reason, the odd but valid images (CMYK,
// progressive, 16-bit, palette, RGBA, 1×1, odd names, deep nesting) are counted in their classes
// and get thumbnails and a preview, and neither the symbolic-link loop nor a FIFO hangs the scan.

#include "hostilecatalogue.h"

#include "widgets/dataset/classlistmodel.h"
#include "widgets/dataset/datasetbrowser.h"
#include "widgets/dataset/invalidfilemodel.h"
#include "widgets/dataset/thumbnailloader.h"
#include "widgets/dataset/thumbnailmodel.h"

#include <QAbstractItemModelTester>
#include <QDir>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QSet>
#include <QSignalSpy>
#include <QSplitter>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace leantune;

namespace {

using hostile::Expectation;

QString screenshotDir()
{
    return QStringLiteral("/tmp/gui-shots");
}

// make-hostile.sh draws its images as a red-to-blue gradient (top to bottom) with a white disc in
// the middle; two are plain gray. A decoder that garbles a colour model (CMYK inverted, 16-bit or
// palette misread) fails this.
bool looksRight(const QString &path, const QImage &thumbnail)
{
    const QImage img = thumbnail.convertToFormat(QImage::Format_ARGB32);
    const auto gray
        = [](QColor c) { return qAbs(c.red() - c.green()) < 8 && qAbs(c.green() - c.blue()) < 8; };
    if (path.endsWith(QLatin1String("one-pixel.png")))
        return gray(img.pixelColor(0, 0));
    const QColor top = img.pixelColor(1, 1), bottom = img.pixelColor(1, img.height() - 2);
    const QColor middle = img.pixelColor(img.width() / 2, img.height() / 2);
    if (path.endsWith(QLatin1String("grayscale.png")))
        return gray(top) && gray(bottom) && gray(middle) && middle.value() > 200;
    return top.red() > 150 && top.blue() < 100 && bottom.blue() > 150 && bottom.red() < 100
        && middle.red() > 200 && middle.green() > 200 && middle.blue() > 200;
}

} // namespace

class TestHostileBrowser : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_data;
    QList<Expectation> m_expected;

    // Where the browser must list the entry: valid (a thumbnail in its class), invalid or skip.
    QString listedAs(const Expectation &e) const
    {
        if (e.outcome == QLatin1String("unreadable")) // root reads files whatever their mode
            return ::access(QFile::encodeName(m_data + QLatin1Char('/') + e.path).constData(), R_OK)
                    == 0
                ? QStringLiteral("valid")
                : QStringLiteral("invalid");
        if (e.outcome == QLatin1String("decode-fails"))
            return QStringLiteral("valid"); // the header is fine: only decoding can tell
        return e.outcome;
    }

private Q_SLOTS:
    void cleanupTestCase() { hostile::remove(m_dir.filePath(QStringLiteral("hostile"))); }

    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        if (!hostile::canGenerate())
            QSKIP("ImageMagick's convert is not installed (scripts/setup installs it)");
        const QString root = m_dir.filePath(QStringLiteral("hostile"));
        QString error;
        QVERIFY2(hostile::generate(root, 2, &m_expected, &error), qPrintable(error));
        m_data = root + QStringLiteral("/data");
        QVERIFY(m_expected.size() >= 25);
        // Not in the catalogue: a FIFO posing as an image. A reader that opened it would block
        // forever.
        const QString fifo = m_data + QStringLiteral("/odd/pipe.png");
        QVERIFY2(::mkfifo(QFile::encodeName(fifo).constData(), 0644) == 0, std::strerror(errno));
        m_expected.append({ QStringLiteral("odd/pipe.png"), QStringLiteral("invalid"),
            QStringLiteral("not a regular file") });
    }

    void browserListsEveryEntry()
    {
        QWidget window; // the browser with its two panels beside it, as the main window docks them
        auto *split = new QSplitter(Qt::Horizontal, &window);
        auto *browser = new DatasetBrowser;
        auto *panels = new QSplitter(Qt::Vertical);
        split->addWidget(browser);
        split->addWidget(panels);
        panels->addWidget(browser->classOverview());
        panels->addWidget(browser->dataChecks());
        split->setSizes({ 700, 700 });
        auto *layout = new QHBoxLayout(&window);
        layout->setContentsMargins(0, 0, 0, 0);
        layout->addWidget(split);
        window.resize(1400, 900);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));

        QAbstractItemModelTester t1(
            browser->classModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(
            browser->thumbnailModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t3(
            browser->invalidModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy finished(browser, &DatasetBrowser::scanFinished);
        QSignalSpy failed(browser, &DatasetBrowser::scanFailed);
        browser->openFolder(m_data);
        // Nothing hangs: not the symbolic-link loop, not the FIFO, not the 100000×100000 header.
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 60000);
        QVERIFY2(failed.isEmpty(), qPrintable(failed.value(0).value(0).toString()));
        QVERIFY(!browser->isScanning());

        // The invalid-file list as the user reads it: the path relative to the folder, and why.
        const InvalidFileModel *invalidModel = browser->invalidModel();
        QHash<QString, QString> invalid;
        for (int r = 0; r < invalidModel->rowCount(); ++r)
            invalid.insert(invalidModel->index(r, InvalidFileModel::FileColumn).data().toString(),
                invalidModel->index(r, InvalidFileModel::ReasonColumn).data().toString());
        // The thumbnail grid: image index per relative path.
        ThumbnailModel *thumbs = browser->thumbnailModel();
        QHash<QString, int> shown;
        for (int r = 0; r < thumbs->rowCount(); ++r)
            shown.insert(QDir(m_data).relativeFilePath(
                             thumbs->index(r).data(ThumbnailModel::PathRole).toString()),
                thumbs->index(r).data(ThumbnailModel::ImageIndexRole).toInt());

        QHash<QString, int> perClass { { QStringLiteral("empty_class"), 0 } };
        int expectedInvalid = 0, expectedValid = 0;
        QSet<QString> decodeFails;
        for (const Expectation &e : std::as_const(m_expected)) {
            const QString outcome = listedAs(e);
            const QByteArray what = (e.path + QStringLiteral(" -> ") + outcome).toUtf8();
            if (outcome == QLatin1String("valid")) {
                QVERIFY2(shown.contains(e.path), what.constData());
                QVERIFY2(!invalid.contains(e.path), what.constData());
                ++perClass[e.path.section(QLatin1Char('/'), 0, 0)];
                ++expectedValid;
                if (e.outcome == QLatin1String("decode-fails"))
                    decodeFails.insert(e.path);
            } else if (outcome == QLatin1String("invalid")) {
                QVERIFY2(invalid.contains(e.path), what.constData());
                QVERIFY2(!invalid.value(e.path).isEmpty(), what.constData());
                if (!e.reason.isEmpty())
                    QVERIFY2(invalid.value(e.path).startsWith(e.reason),
                        qPrintable(QString::fromUtf8(what) + QStringLiteral(": ")
                            + invalid.value(e.path)));
                QVERIFY2(!shown.contains(e.path), what.constData());
                ++expectedInvalid;
            } else {
                QVERIFY2(!shown.contains(e.path) && !invalid.contains(e.path), what.constData());
            }
        }
        QCOMPARE(invalid.size(), expectedInvalid); // nothing else rejected
        QCOMPARE(shown.size(), expectedValid); // nothing else shown
        QVERIFY(invalid.contains(QStringLiteral("odd/loop")));
        QVERIFY(invalid.contains(QStringLiteral("odd/pipe.png")));

        // Every valid image counted in its class; the empty class listed with 0.
        const ClassListModel *classes = browser->classModel();
        QHash<QString, int> counts;
        for (int r = 0; r < classes->rowCount(); ++r)
            counts.insert(classes->index(r, ClassListModel::NameColumn).data().toString(),
                classes->index(r, ClassListModel::CountColumn)
                    .data(ClassListModel::SortRole)
                    .toInt());
        QCOMPARE(counts, perClass);
        QCOMPARE(classes->total(), expectedValid);

        // Every thumbnail arrives (asked for again should the view have dropped a request off
        // screen).
        ThumbnailLoader *loader = thumbs->loader();
        const auto allThumbnails = [&] {
            bool all = true;
            for (int r = 0; r < thumbs->rowCount(); ++r) {
                const QModelIndex i = thumbs->index(r);
                if (!loader->isCached(i.data(ThumbnailModel::ImageIndexRole).toInt())) {
                    i.data(Qt::DecorationRole);
                    all = false;
                }
            }
            return all;
        };
        QTRY_VERIFY_WITH_TIMEOUT(allThumbnails(), 30000);
        // Only the file whose pixels are garbage gets the "cannot decode" placeholder; the odd
        // valid ones decode (the loader's own decode, here per file, says which).
        QCOMPARE(loader->failedCount(), int(decodeFails.size()));
        for (const Expectation &e : std::as_const(m_expected)) {
            if (listedAs(e) != QLatin1String("valid"))
                continue;
            QString error;
            const QImage image = ThumbnailLoader::decode(
                m_data + QLatin1Char('/') + e.path, loader->thumbnailSize(), &error);
            if (e.outcome == QLatin1String("decode-fails")) {
                QVERIFY2(image.isNull(), qPrintable(e.path));
            } else {
                QVERIFY2(!image.isNull(), qPrintable(e.path + QStringLiteral(": ") + error));
                const QImage thumb = loader->thumbnail(shown.value(e.path), QString());
                QVERIFY2(!thumb.isNull(), qPrintable(e.path));
                QVERIFY2(looksRight(e.path, thumb), qPrintable(e.path));
            }
        }

        // The preview of each: its name, or a decode error only for the garbage pixels.
        for (int r = 0; r < thumbs->rowCount(); ++r) {
            browser->thumbnailView()->setCurrentIndex(thumbs->index(r));
            const QString path = QDir(m_data).relativeFilePath(
                thumbs->index(r).data(ThumbnailModel::PathRole).toString());
            const QString preview
                = browser->previewText(); // (HTML: a newline in a name reads as a space)
            QVERIFY2(preview.contains(QFileInfo(path).fileName().section(QLatin1Char('\n'), -1)),
                qPrintable(preview));
            bool decodeError = false;
            for (const QLabel *label : browser->findChildren<QLabel *>())
                decodeError = decodeError
                    || label->text().startsWith(QLatin1String("Cannot decode this file"));
            QVERIFY2(decodeError == decodeFails.contains(path), qPrintable(path));
        }

        // A screenshot of the browser with the invalid-file list, for a person to look at.
        browser->thumbnailView()->setCurrentIndex(thumbs->index(0));
        QDir().mkpath(screenshotDir());
        QVERIFY(window.grab().save(screenshotDir() + QStringLiteral("/hostile-browser.png")));
    }
};

QTEST_MAIN(TestHostileBrowser)
#include "tst_hostilebrowser.moc"
