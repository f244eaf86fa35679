// The data audit's duplicates and leaks: near copies of four kinds and exact copies injected into
// Fashion-MNIST images land in one group each, cross-split copies are leaks, relabelled copies are
// conflicts, clean images make (almost) no groups; the audit folder is refused for another data
// set; `leantune-cli audit --duplicates-only` writes and prints the document.

#include "audit/auditreport.h"
#include "audit/auditrunner.h"
#include "audit/duplicates.h"
#include "clirunner.h"
#include "dataset/idximporter.h"
#include "dataset/sampledata.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <set>

using namespace leantune;

namespace {

// One injected pair: the original and its copy, and what the audit must say of their group.
struct Injected {
    QString kind; // jpeg85, resize36, shift1, bright6, exact
    QString original;
    QString copy;
    bool crossSplit = false;
    bool otherLabel = false;
};

cv::Mat readGray(const QString &path)
{
    return cv::imread(path.toStdString(), cv::IMREAD_GRAYSCALE);
}

bool write(const QString &path, const cv::Mat &image, const std::vector<int> &params = {})
{
    return cv::imwrite(path.toStdString(), image, params);
}

const AuditDuplicateGroup *groupOf(
    const std::vector<AuditDuplicateGroup> &groups, const QString &path)
{
    for (const AuditDuplicateGroup &g : groups) {
        for (const AuditImage &image : g.images) {
            if (image.path == path)
                return &g;
        }
    }
    return nullptr;
}

bool contains(const AuditDuplicateGroup &g, const QString &path)
{
    for (const AuditImage &image : g.images) {
        if (image.path == path)
            return true;
    }
    return false;
}

// The groups an audit with OPTIONS finds, each as its set of paths (empty when it fails: *ERROR).
std::set<std::set<QString>> groupsFound(const AuditOptions &options, QString *error)
{
    std::set<std::set<QString>> found;
    const std::optional<AuditOutcome> outcome = runAudit(options, {}, error);
    if (!outcome)
        return found;
    for (const AuditDuplicateGroup &g : outcome->report.duplicates) {
        std::set<QString> paths;
        for (const AuditImage &image : g.images)
            paths.insert(image.path);
        found.insert(paths);
    }
    return found;
}

} // namespace

class TestAudit : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_train;
    QString m_test;
    std::vector<Injected> m_injected;
    QStringList m_classes;

    QString classOf(const QString &path) const { return QFileInfo(path).dir().dirName(); }

    // A duplicates-only audit of the fixture's training and test folders.
    AuditOptions fixtureAudit() const
    {
        AuditOptions options;
        options.data = m_train;
        options.test = m_test;
        options.duplicatesOnly = true;
        return options;
    }

    // Fashion-MNIST's first 300 training and 100 test images, then the copies: 5 of each near
    // kind inside the training set and 5 across to the test set, and 8 exact copies (re-saved as
    // BMP) in another class folder, 3 of them in the test set.
    void makeDataSet()
    {
        const QString idx = fashionMnistIdxDir();
        QString error;
        IdxImportOptions options;
        options.limit = 300;
        QVERIFY2(importIdx(idx + QStringLiteral("/train-images-idx3-ubyte.gz"),
                     idx + QStringLiteral("/train-labels-idx1-ubyte.gz"), m_train, options, &error),
            qPrintable(error));
        options.limit = 100;
        QVERIFY2(importIdx(idx + QStringLiteral("/t10k-images-idx3-ubyte.gz"),
                     idx + QStringLiteral("/t10k-labels-idx1-ubyte.gz"), m_test, options, &error),
            qPrintable(error));
        m_classes = fashionMnistClassNames();

        QStringList originals;
        for (const QString &c : m_classes) {
            for (const QFileInfo &f :
                QDir(m_train + QLatin1Char('/') + c).entryInfoList({ QStringLiteral("*.png") }))
                originals << f.absoluteFilePath();
        }
        std::sort(originals.begin(), originals.end());
        QCOMPARE(originals.size(), 300);

        int next = 0; // each pair takes an original of its own, spread over the classes
        const auto take = [&] { return originals[(next++ * 7) % originals.size()]; };
        const QStringList kinds { QStringLiteral("jpeg85"), QStringLiteral("resize36"),
            QStringLiteral("shift1"), QStringLiteral("bright6") };
        const int shifts[5][2] = { { 1, 0 }, { 0, 1 }, { -1, 0 }, { 0, -1 }, { 1, 1 } };
        for (const QString &kind : kinds) {
            for (int k = 0; k < 10; ++k) {
                Injected pair;
                pair.kind = kind;
                pair.original = take();
                pair.crossSplit = k >= 5;
                const QString folder = (pair.crossSplit ? m_test : m_train) + QLatin1Char('/')
                    + classOf(pair.original);
                const QString stem = folder + QStringLiteral("/copy-%1-%2").arg(kind).arg(k);
                const cv::Mat image = readGray(pair.original);
                QVERIFY(!image.empty());
                cv::Mat copy;
                if (kind == QLatin1String("jpeg85")) {
                    pair.copy = stem + QStringLiteral(".jpg");
                    QVERIFY(write(pair.copy, image, { cv::IMWRITE_JPEG_QUALITY, 85 }));
                    m_injected.push_back(pair);
                    continue;
                }
                if (kind == QLatin1String("resize36")) {
                    cv::resize(image, copy, cv::Size(36, 36), 0, 0, cv::INTER_LINEAR);
                } else if (kind == QLatin1String("shift1")) {
                    const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, shifts[k % 5][0], 0, 1,
                        shifts[k % 5][1]);
                    cv::warpAffine(image, copy, m, image.size(), cv::INTER_NEAREST,
                        cv::BORDER_CONSTANT, cv::Scalar(0));
                } else {
                    image.convertTo(copy, CV_8U, 1.06, 0.0);
                }
                pair.copy = stem + QStringLiteral(".png");
                QVERIFY(write(pair.copy, copy));
                m_injected.push_back(pair);
            }
        }
        for (int k = 0; k < 8; ++k) {
            Injected pair;
            pair.kind = QStringLiteral("exact");
            pair.original = take();
            pair.crossSplit = k >= 5;
            pair.otherLabel = true;
            const int label = int(m_classes.indexOf(classOf(pair.original)));
            const QString other = m_classes[(label + 1 + k) % m_classes.size()];
            pair.copy = (pair.crossSplit ? m_test : m_train) + QLatin1Char('/') + other
                + QStringLiteral("/exact-%1.bmp").arg(k);
            QVERIFY(write(pair.copy, readGray(pair.original)));
            m_injected.push_back(pair);
        }
    }

private Q_SLOTS:
    void initTestCase()
    {
        if (!QFile::exists(fashionMnistIdxDir() + QStringLiteral("/train-images-idx3-ubyte.gz")))
            QSKIP("Debian's dataset-fashion-mnist is not installed");
        QVERIFY(m_dir.isValid());
        m_train = m_dir.filePath(QStringLiteral("train"));
        m_test = m_dir.filePath(QStringLiteral("test"));
        makeDataSet();
    }

    void injectedCopiesAreGroupedLeaksAndConflictsMarked()
    {
        AuditOptions options = fixtureAudit();
        QString error;
        const std::optional<AuditOutcome> outcome = runAudit(options, {}, &error);
        QVERIFY2(outcome, qPrintable(error));
        const AuditReport &report = outcome->report;
        QCOMPARE(report.images, 400 + int(m_injected.size()));
        QCOMPARE(report.folds, 0);
        QVERIFY(outcome->warnings.isEmpty());

        int together = 0;
        std::set<const AuditDuplicateGroup *> injectedGroups;
        for (const Injected &pair : m_injected) {
            const AuditDuplicateGroup *g = groupOf(report.duplicates, pair.original);
            if (!g || !contains(*g, pair.copy)) {
                qInfo("not grouped: %s copy %s", qPrintable(pair.kind), qPrintable(pair.copy));
                continue;
            }
            ++together;
            injectedGroups.insert(g);
            // A group holds its pair (and nothing that was not injected with it).
            QCOMPARE(int(g->images.size()), 2);
            QCOMPARE(g->leak, pair.crossSplit);
            QCOMPARE(g->conflict, pair.otherLabel);
            if (pair.kind == QLatin1String("exact"))
                QCOMPARE(g->kind, AuditDuplicateGroup::Kind::Exact);
            else
                QCOMPARE(g->kind, AuditDuplicateGroup::Kind::Near);
        }
        qInfo("%d of %d injected pairs grouped; %d groups in all", together, int(m_injected.size()),
            int(report.duplicates.size()));
        QVERIFY(together * 100 >= 95 * int(m_injected.size()));
        // Every group among the 400 clean images is a false find (or a true copy in the data).
        const int clean = int(report.duplicates.size()) - int(injectedGroups.size());
        QVERIFY2(clean <= 2, qPrintable(QStringLiteral("%1 groups of clean images").arg(clean)));
        // Leaks and conflicts come first.
        for (std::size_t i = 1; i < report.duplicates.size(); ++i)
            QVERIFY(report.duplicates[i - 1].leak || !report.duplicates[i].leak);
    }

    // A tall image moved down one pixel, its bottom row cut off (its centre of mass moves less than
    // a pixel), is still a copy; the same image with a small print (1.5 % of its pixels brighter)
    // correlates above 0.99 but is a look-alike, kept apart by its outlier pixels.
    void cutShiftGroupsAndPrintedLookAlikeStaysApart()
    {
        const QString root = m_dir.filePath(QStringLiteral("lookalike"));
        const QStringList trousers
            = QDir(m_train + QStringLiteral("/Trouser")).entryList({ QStringLiteral("0*.png") });
        const QStringList bags
            = QDir(m_train + QStringLiteral("/Bag")).entryList({ QStringLiteral("0*.png") });
        QVERIFY(trousers.size() >= 1 && bags.size() >= 2);
        QVERIFY(QDir().mkpath(root + QStringLiteral("/Trouser")));
        QVERIFY(QDir().mkpath(root + QStringLiteral("/Bag")));
        const cv::Mat base = readGray(m_train + QStringLiteral("/Trouser/") + trousers[0]);
        QVERIFY(!base.empty());
        cv::Mat cut;
        const cv::Mat down = (cv::Mat_<double>(2, 3) << 1, 0, 0, 0, 1, 1);
        cv::warpAffine(
            base, cut, down, base.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
        cv::Mat printed = base.clone();
        int changed = 0;
        for (int y = 8; y < 28 && changed < 12; ++y) {
            for (int x = 10; x < 18 && changed < 12; ++x) {
                if (printed.at<uchar>(y, x) > 60 && printed.at<uchar>(y, x) < 180) {
                    printed.at<uchar>(y, x)
                        = cv::saturate_cast<uchar>(printed.at<uchar>(y, x) + 70);
                    ++changed;
                }
            }
        }
        QCOMPARE(changed, 12);
        const QString basePath = root + QStringLiteral("/Trouser/base.png");
        const QString cutPath = root + QStringLiteral("/Trouser/cut.png");
        const QString printedPath = root + QStringLiteral("/Trouser/printed.png");
        QVERIFY(write(basePath, base));
        QVERIFY(write(cutPath, cut));
        QVERIFY(write(printedPath, printed));
        for (int k = 0; k < 2; ++k)
            QVERIFY(QFile::copy(m_train + QStringLiteral("/Bag/") + bags[k],
                root + QStringLiteral("/Bag/") + bags[k]));

        AuditOptions options;
        options.data = root;
        options.duplicatesOnly = true;
        QString error;
        const std::optional<AuditOutcome> outcome = runAudit(options, {}, &error);
        QVERIFY2(outcome, qPrintable(error));
        const AuditDuplicateGroup *g = groupOf(outcome->report.duplicates, basePath);
        QVERIFY(g);
        QVERIFY(contains(*g, cutPath));
        QVERIFY(!contains(*g, printedPath));

        // Without the outlier rule the print joins the group: the rule is what keeps it apart.
        options.duplicates.maxOutlierShare = 1.0;
        const std::optional<AuditOutcome> loose = runAudit(options, {}, &error);
        QVERIFY2(loose, qPrintable(error));
        const AuditDuplicateGroup *all = groupOf(loose->report.duplicates, basePath);
        QVERIFY(all);
        QVERIFY(contains(*all, printedPath));
    }

    // The candidates' images are decoded again a bounded batch at a time: batches of two images
    // (one pair each) find the same groups as one batch (one thread: the same index both times).
    void confirmationInSmallBatchesFindsTheSameGroups()
    {
        QString error;
        AuditOptions options = fixtureAudit();
        options.duplicates.threads = 1;
        options.duplicates.keptPixelBytes = 0; // every candidate's image decoded again
        const auto groups = [&](int batch) {
            options.duplicates.confirmBatchImages = batch;
            return groupsFound(options, &error);
        };
        const std::set<std::set<QString>> whole = groups(100000);
        QVERIFY2(whole.size() >= m_injected.size() * 95 / 100, qPrintable(error));
        QVERIFY(groups(2) == whole);
    }

    // A duplicates-only audit keeps small images' pixels from the first decoding: the candidates
    // confirmed on them, on none of them (every image decoded again) or on those that fit a budget
    // of a few images make the same groups (one thread: the same index each time).
    void keptPixelsFindTheSameGroupsAsDecodingAgain()
    {
        QString error;
        AuditOptions options = fixtureAudit();
        options.duplicates.threads = 1;
        const auto groups = [&](std::int64_t keptBytes) {
            options.duplicates.keptPixelBytes = keptBytes;
            return groupsFound(options, &error);
        };
        QVERIFY(DuplicateOptions().keptPixelBytes >= 28 * 28 * 1000);
        const std::set<std::set<QString>> kept = groups(DuplicateOptions().keptPixelBytes);
        QVERIFY2(kept.size() >= m_injected.size() * 95 / 100, qPrintable(error));
        QVERIFY(groups(0) == kept);
        QVERIFY(groups(28 * 28 * 100) == kept);
    }

    void exactOnlyFindsTheExactCopies()
    {
        QString error;
        AuditOptions options = fixtureAudit();
        options.duplicates.near = false;
        const std::optional<AuditOutcome> outcome = runAudit(options, {}, &error);
        QVERIFY2(outcome, qPrintable(error));
        int exactPairs = 0;
        for (const Injected &pair : m_injected)
            exactPairs += pair.kind == QLatin1String("exact") ? 1 : 0;
        QCOMPARE(int(outcome->report.duplicates.size()), exactPairs);
        for (const AuditDuplicateGroup &g : outcome->report.duplicates) {
            QCOMPARE(g.kind, AuditDuplicateGroup::Kind::Exact);
            QVERIFY(g.conflict);
        }
    }

    void auditFolderIsRefusedForAnotherDataSet()
    {
        AuditOptions options = fixtureAudit();
        options.duplicates.near = false;
        QString error;
        const std::optional<AuditOutcome> outcome = runAudit(options, {}, &error);
        QVERIFY2(outcome, qPrintable(error));
        const QString auditDir = m_dir.filePath(QStringLiteral("audit-source"));
        QVERIFY2(writeAudit(auditDir, outcome->report, &error), qPrintable(error));

        const auto read = readAuditFor(auditDir, outcome->report.source, &error);
        QVERIFY2(read, qPrintable(error));
        QCOMPARE(read->toJson(), outcome->report.toJson());

        // Another data set: the test folder audited as the training folder.
        AuditSource other = outcome->report.source;
        other.train = QDir(m_test).absolutePath();
        other.test.clear();
        QVERIFY(!readAuditFor(auditDir, other, &error));
        QVERIFY2(error.contains(QLatin1String("another data set")), qPrintable(error));

        // The same folders with one file more.
        const QString extra = m_train + QLatin1Char('/') + m_classes[0] + QStringLiteral("/x.png");
        QVERIFY(write(extra, cv::Mat(28, 28, CV_8U, cv::Scalar(7))));
        options.duplicates.near = false;
        const std::optional<AuditOutcome> changed = runAudit(options, {}, &error);
        QFile::remove(extra);
        QVERIFY2(changed, qPrintable(error));
        QVERIFY(!readAuditFor(auditDir, changed->report.source, &error));
        QVERIFY2(error.contains(QLatin1String("changed")), qPrintable(error));

        // Not an audit at all.
        QFile bad(m_dir.filePath(QStringLiteral("audit-bad/audit.json")));
        QVERIFY(QDir().mkpath(QFileInfo(bad).absolutePath()));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("{\"images\": 3}");
        bad.close();
        QVERIFY(!readAudit(QFileInfo(bad).absolutePath(), &error));
        QVERIFY2(error.contains(QLatin1String("\"folds\"")), qPrintable(error));
    }

    void cliWritesAndPrintsTheDocument()
    {
        const QString auditDir = m_dir.filePath(QStringLiteral("audit-cli"));
        const testcli::Result r
            = testcli::runCli({ QStringLiteral("audit"), QStringLiteral("--data"), m_train,
                QStringLiteral("--test"), m_test, QStringLiteral("--out"), auditDir,
                QStringLiteral("--duplicates-only"), QStringLiteral("--json") });
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject printed = QJsonDocument::fromJson(r.out.toUtf8()).object();
        QFile file(auditDir + QStringLiteral("/audit.json"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject written = QJsonDocument::fromJson(file.readAll()).object();
        QCOMPARE(printed, written);
        for (const char *key :
            { "images", "folds", "label_issues", "duplicates", "outliers", "overlapping_classes" })
            QVERIFY2(written.contains(QLatin1String(key)), key);
        const QJsonArray groups = written.value(QLatin1String("duplicates")).toArray();
        QVERIFY(!groups.isEmpty());
        int images = 0;
        for (const QJsonValue &g : groups) {
            const QJsonArray members = g.toObject().value(QLatin1String("images")).toArray();
            images += int(members.size());
            for (const QJsonValue &m : members)
                QVERIFY(
                    QFileInfo(m.toObject().value(QLatin1String("path")).toString()).isAbsolute());
        }

        // issues.csv: a header and one row per image of each group.
        QFile csv(auditDir + QStringLiteral("/issues.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines
            = QString::fromUtf8(csv.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.first(),
            QStringLiteral("finding,group,path,split,label,suggested,score,leak,conflict"));
        QCOMPARE(int(lines.size()), 1 + images);

        const testcli::Result missing = testcli::runCli({ QStringLiteral("audit"),
            QStringLiteral("--data"), m_train, QStringLiteral("--duplicates-only") });
        QCOMPARE(missing.exitCode, 2);
        QVERIFY2(missing.err.contains(QLatin1String("--out")), qPrintable(missing.err));
    }
};

QTEST_GUILESS_MAIN(TestAudit)
#include "tst_audit.moc"
