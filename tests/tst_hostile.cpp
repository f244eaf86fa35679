// The hostile-input catalogue (tests/fixtures/make-hostile.sh): scan reports every entry with a
// reason and finishes, training skips and counts what cannot be decoded, nothing crashes or hangs.

#include "dataset/datasetscanner.h"
#include "train/trainer.h"
#include "hostilecatalogue.h"
#include "trainerharness.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <unistd.h>

using namespace leantune;

namespace {

using hostile::Expectation;

// Runs a Trainer to completion on its own thread; returns the summary or the error.
std::pair<std::optional<RunSummary>, QString> train(const RunConfig &config)
{
    testtrainer::TrainerHarness h(config, {});
    if (!h.run(120000))
        return { std::nullopt, QStringLiteral("timed out") };
    if (!h.finished->isEmpty())
        return { h.summary(), QString() };
    return { std::nullopt, h.error() };
}

} // namespace

class TestHostile : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_root;
    QList<Expectation> m_expected;

    RunConfig config(const QString &data, const QString &name) const
    {
        RunConfig c;
        c.dataDir = data;
        c.outDir = m_dir.filePath(name);
        c.model.inputSize = 16;
        c.batchSize = 4;
        c.epochs = 1;
        c.device = QStringLiteral("cpu");
        c.threads = 1;
        c.valSplit = 0.2;
        return c;
    }

private Q_SLOTS:
    void cleanupTestCase() { hostile::remove(m_root); }

    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        if (!hostile::canGenerate())
            QSKIP("ImageMagick's convert is not installed (scripts/setup installs it)");
        m_root = m_dir.filePath(QStringLiteral("hostile"));
        QString error;
        QVERIFY2(hostile::generate(m_root, 3000, &m_expected, &error), qPrintable(error));
        QVERIFY(m_expected.size() >= 25);
    }

    void scanReportsEveryEntry()
    {
        const QString data = m_root + QStringLiteral("/data");
        QString error;
        const std::optional<DatasetIndex> index = scanDataset(data, {}, &error);
        QVERIFY2(index, qPrintable(error));
        QSet<QString> valid;
        for (const ImageEntry &e : index->images)
            valid.insert(QDir(data).relativeFilePath(e.path));
        QHash<QString, QString> invalid;
        for (const InvalidFile &f : index->invalid)
            invalid.insert(QDir(data).relativeFilePath(f.path), f.reason);
        for (const Expectation &e : m_expected) {
            QString outcome = e.outcome;
            if (outcome == QLatin1String("unreadable")) // root reads files whatever their mode
                outcome = ::access(
                              QFile::encodeName(data + QLatin1Char('/') + e.path).constData(), R_OK)
                        == 0
                    ? QStringLiteral("valid")
                    : QStringLiteral("invalid");
            if (outcome == QLatin1String("decode-fails"))
                outcome = QStringLiteral("valid"); // the header is fine: only decoding can tell
            const QByteArray what = (e.path + QStringLiteral(" -> ") + outcome).toUtf8();
            if (outcome == QLatin1String("valid")) {
                QVERIFY2(valid.contains(e.path), what.constData());
            } else if (outcome == QLatin1String("invalid")) {
                QVERIFY2(invalid.contains(e.path), what.constData());
                if (!e.reason.isEmpty())
                    QVERIFY2(invalid.value(e.path).startsWith(e.reason),
                        qPrintable(QString::fromUtf8(what) + QStringLiteral(": ")
                            + invalid.value(e.path)));
            } else {
                QVERIFY2(!valid.contains(e.path) && !invalid.contains(e.path), what.constData());
            }
        }
        QVERIFY(index->classes.contains(QStringLiteral("empty_class")));
        QCOMPARE(
            index->classCounts().at(int(index->classes.indexOf(QStringLiteral("empty_class")))), 0);
    }

    // The catalogue's empty class would be a dead output: training refuses it by name. Without
    // it, training skips and counts the files whose headers are fine but whose pixels are not.
    void trainingSkipsAndCountsUndecodableFiles()
    {
        const QString data = m_root + QStringLiteral("/data");
        const auto [refused, why] = train(config(data, QStringLiteral("run-empty-class")));
        QVERIFY(!refused);
        QVERIFY2(
            why.contains(QLatin1String("class 'empty_class' (empty folder) has no valid image")),
            qPrintable(why));
        QVERIFY(QDir(data).rmdir(QStringLiteral("empty_class")));
        const auto [summary, error] = train(config(data, QStringLiteral("run-hostile")));
        QVERIFY(QDir(data).mkdir(QStringLiteral("empty_class")));
        QVERIFY2(summary, qPrintable(error));
        QCOMPARE(summary->status, QStringLiteral("finished"));
        int decodeFails = 0;
        for (const Expectation &e : m_expected)
            decodeFails += e.outcome == QLatin1String("decode-fails");
        QCOMPARE(summary->skippedFiles, qint64(decodeFails));
    }

    void thousandsOfClassesAreScanned()
    {
        QString error;
        const std::optional<DatasetIndex> index
            = scanDataset(m_root + QStringLiteral("/manyclasses"), {}, &error);
        QVERIFY2(index, qPrintable(error));
        QCOMPARE(index->classes.size(), 3000);
        QCOMPARE(int(index->images.size()), 3000);
    }

    void wholeFolderProblemsAreClearErrors_data()
    {
        QTest::addColumn<QString>("folder");
        QTest::addColumn<QString>("message");
        QTest::newRow("single class")
            << QStringLiteral("oneclass") << QStringLiteral("at least two");
        QTest::newRow("empty folder") << QStringLiteral("empty") << QStringLiteral("at least two");
    }

    void wholeFolderProblemsAreClearErrors()
    {
        QFETCH(QString, folder);
        QFETCH(QString, message);
        QString error;
        QVERIFY2(scanDataset(m_root + QLatin1Char('/') + folder, {}, &error),
            qPrintable(error)); // scanning is fine
        const auto [summary, trainError]
            = train(config(m_root + QLatin1Char('/') + folder, QStringLiteral("run-") + folder));
        QVERIFY(!summary);
        QVERIFY2(trainError.contains(message), qPrintable(trainError));
    }
};

QTEST_GUILESS_MAIN(TestHostile)
#include "tst_hostile.moc"
