// leantune-cli audit with cross-training, as a user runs it: a tiny audit (2 folds, 1 epoch) writes
// a well-formed audit.json with its label issues, outliers and overlapping classes, and an audit
// stopped by Ctrl-C during its second fold goes on from its finished first fold.

#include "clirunner.h"
#include "testdata.h"
#include "audit/crossfold.h"
#include "metrics/predictions.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <sys/types.h>

using leantune::testcli::Result;
using leantune::testcli::runCli;

namespace {

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestAuditLabels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void tinyAuditWritesWellFormedAuditJson();
    void stoppedAuditGoesOnFromItsFinishedFolds();
    void epochsGivenTrainAsAskedAndNeighboursRerankFinishedFolds();

private:
    QStringList auditArgs(const QString &out) const;
    // Checks AUDITDIR/audit.json: IMAGES images, 2 folds, and every finding well-formed.
    void checkAudit(const QString &auditDir, int images);

    QTemporaryDir m_dir;
    QString m_data;
    QStringList m_classes;
};

void TestAuditLabels::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_data = m_dir.filePath(QStringLiteral("data"));
    m_classes = leantune::testdata::writeImageFolder(m_data, 3, 60, 16);
    // Two images in the wrong class folder.
    for (int i = 0; i < 2; ++i) {
        const QString name = QStringLiteral("/%1.png").arg(i, 4, 10, QLatin1Char('0'));
        QVERIFY(QFile::rename(m_data + QStringLiteral("/class0") + name,
            m_data + QStringLiteral("/class1/moved") + name.mid(1)));
    }
}

QStringList TestAuditLabels::auditArgs(const QString &out) const
{
    return { QStringLiteral("audit"), QStringLiteral("--data"), m_data, QStringLiteral("--out"),
        out, QStringLiteral("--folds"), QStringLiteral("2"), QStringLiteral("--epochs"),
        QStringLiteral("1"), QStringLiteral("--input-size"), QStringLiteral("16"),
        QStringLiteral("--batch-size"), QStringLiteral("4"), QStringLiteral("--device"),
        QStringLiteral("cpu"), QStringLiteral("--threads"), QStringLiteral("1"),
        QStringLiteral("--workers"), QStringLiteral("1") };
}

void TestAuditLabels::checkAudit(const QString &auditDir, int images)
{
    const QJsonObject a = leantune::testdata::readJson(auditDir + QStringLiteral("/audit.json"));
    QCOMPARE(a.value(QStringLiteral("images")).toInt(), images);
    QCOMPARE(a.value(QStringLiteral("folds")).toInt(), 2);
    QVERIFY(a.value(QStringLiteral("duplicates")).isArray());

    QVERIFY(a.value(QStringLiteral("label_issues")).isArray());
    double last = -1.0;
    for (const QJsonValue &v : a.value(QStringLiteral("label_issues")).toArray()) {
        const QJsonObject issue = v.toObject();
        const QString path = issue.value(QStringLiteral("path")).toString();
        QVERIFY2(QFileInfo(path).isAbsolute() && QFileInfo::exists(path), qPrintable(path));
        const QString given = issue.value(QStringLiteral("given")).toString();
        const QString suggested = issue.value(QStringLiteral("suggested")).toString();
        QVERIFY(m_classes.contains(given));
        QVERIFY(m_classes.contains(suggested));
        QVERIFY(given != suggested);
        QCOMPARE(QFileInfo(path).dir().dirName(), given);
        const double score = issue.value(QStringLiteral("score")).toDouble(-1.0);
        QVERIFY(score >= 0.0 && score <= 1.0);
        QVERIFY2(score >= last, "label issues are ordered most likely wrong (lowest score) first");
        last = score;
    }
    QVERIFY(a.value(QStringLiteral("outliers")).isArray());
    last = 3.0;
    for (const QJsonValue &v : a.value(QStringLiteral("outliers")).toArray()) {
        const QJsonObject o = v.toObject();
        QVERIFY(QFileInfo::exists(o.value(QStringLiteral("path")).toString()));
        const double score = o.value(QStringLiteral("score")).toDouble(-1.0);
        QVERIFY(score >= 0.0 && score <= last);
        last = score;
    }
    QVERIFY(a.value(QStringLiteral("overlapping_classes")).isArray());
    for (const QJsonValue &v : a.value(QStringLiteral("overlapping_classes")).toArray()) {
        const QJsonArray pair = v.toObject().value(QStringLiteral("classes")).toArray();
        QCOMPARE(pair.size(), 2);
        QVERIFY(m_classes.contains(pair[0].toString()) && m_classes.contains(pair[1].toString()));
        QVERIFY(pair[0].toString() != pair[1].toString());
        const double share = v.toObject().value(QStringLiteral("share")).toDouble(-1.0);
        QVERIFY(share > 0.0 && share <= 1.0);
    }

    // Each fold's out-of-sample results: every image once, with all its probabilities and an
    // embedding row.
    int rows = 0;
    for (int fold = 0; fold < 2; ++fold) {
        const QString dir = auditDir + QStringLiteral("/folds/%1/").arg(fold);
        QString error;
        const auto p = leantune::readPredictions(dir + QStringLiteral("predictions.csv"), &error);
        QVERIFY2(p, qPrintable(error));
        QCOMPARE(p->probabilityClasses, m_classes);
        std::vector<float> embeddings;
        int n = 0, dim = 0;
        QVERIFY2(leantune::readEmbeddings(
                     dir + QStringLiteral("embeddings.bin"), &embeddings, &n, &dim, &error),
            qPrintable(error));
        QCOMPARE(n, int(p->rows.size()));
        QVERIFY(dim > 0);
        for (const leantune::Prediction &row : p->rows) {
            double sum = 0.0;
            for (double x : row.probabilities)
                sum += x;
            QVERIFY(qAbs(sum - 1.0) < 1e-3);
        }
        rows += n;
    }
    QCOMPARE(rows, images);
}

void TestAuditLabels::tinyAuditWritesWellFormedAuditJson()
{
    const QString out = m_dir.filePath(QStringLiteral("audit-once"));
    const Result r = runCli(auditArgs(out));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    checkAudit(out, 180);
    QVERIFY(QFileInfo::exists(out + QStringLiteral("/issues.csv")));
    QVERIFY2(r.out.contains(QStringLiteral("label issues:")), qPrintable(r.out));
}

// --epochs trains the fold models exactly that long (no raise toward the minimum batches), and
// --label-neighbours changes only the post-processing: the finished folds are reused.
void TestAuditLabels::epochsGivenTrainAsAskedAndNeighboursRerankFinishedFolds()
{
    const QString out = m_dir.filePath(QStringLiteral("audit-neighbours"));
    const Result first = runCli(auditArgs(out));
    QVERIFY2(first.exitCode == 0, qPrintable(first.err));
    for (int fold = 0; fold < 2; ++fold) {
        const QJsonObject state = QJsonDocument::fromJson(
            readAll(QStringLiteral("%1/folds/%2/fold.json").arg(out).arg(fold)))
                                      .object();
        QCOMPARE(state.value(QStringLiteral("config"))
                     .toObject()
                     .value(QStringLiteral("epochs"))
                     .toInt(),
            1);
    }
    const Result alone
        = runCli(auditArgs(out) << QStringLiteral("--label-neighbours") << QStringLiteral("0"));
    QVERIFY2(alone.exitCode == 0, qPrintable(alone.err));
    QVERIFY2(
        alone.err.count(QStringLiteral("reused")) + alone.out.count(QStringLiteral("reused")) >= 2,
        qPrintable(alone.err + alone.out));
    checkAudit(out, 180);
    const Result bad
        = runCli(auditArgs(out) << QStringLiteral("--label-neighbours") << QStringLiteral("-1"));
    QCOMPARE(bad.exitCode, 2);
    QVERIFY2(bad.err.contains(QStringLiteral("--label-neighbours must be 0 or more")),
        qPrintable(bad.err));
}

void TestAuditLabels::stoppedAuditGoesOnFromItsFinishedFolds()
{
    const QString out = m_dir.filePath(QStringLiteral("audit-stopped"));
    QProcess p;
    p.start(leantune::testcli::cliPath(), auditArgs(out));
    QVERIFY(p.waitForStarted());
    // stderr (not a terminal) gets a line per fold and stage: stop once the second fold trains.
    QByteArray err;
    QTRY_VERIFY_WITH_TIMEOUT((err += p.readAllStandardError()).contains("fold 2/2: training")
            || p.state() != QProcess::Running,
        120000);
    QVERIFY2(p.state() == QProcess::Running, err.constData());
    QCOMPARE(::kill(pid_t(p.processId()), SIGINT), 0);
    QVERIFY(p.waitForFinished(60000));
    err += p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QVERIFY2(p.exitCode() == 130, err.constData());
    const QString first = out + QStringLiteral("/folds/0/predictions.csv");
    QVERIFY(QFileInfo::exists(first));
    QVERIFY(!QFileInfo::exists(out + QStringLiteral("/folds/1/predictions.csv")));
    QVERIFY(!QFileInfo::exists(out + QStringLiteral("/audit.json")));
    const QByteArray firstBefore = readAll(first);

    const Result again = runCli(auditArgs(out));
    QVERIFY2(again.exitCode == 0, qPrintable(again.err));
    QVERIFY2(again.err.contains(QStringLiteral("fold 1/2: reused")), qPrintable(again.err));
    QVERIFY2(!again.err.contains(QStringLiteral("fold 1/2: training")), qPrintable(again.err));
    QCOMPARE(readAll(first), firstBefore);
    checkAudit(out, 180);
}

QTEST_GUILESS_MAIN(TestAuditLabels)
#include "tst_auditlabels.moc"
