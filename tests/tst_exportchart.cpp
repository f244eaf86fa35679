// The accuracy-size-speed chart of a run's exports: its reader of export reports, its points,
// marker sizes and recommendation, from hand-written reports (the JSON `leantune-cli export --json`
// prints).

#include "guiscreenshot.h"

#include "widgets/charts/qcp.h"
#include "widgets/export/exportchart.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLayout>
#include <QTemporaryDir>
#include <QTest>
#include <QToolTip>

#include <cmath>

using namespace leantune;

namespace {

const QString ort = QStringLiteral("ONNX Runtime 1.20.1 (2 threads)");
const QString opencv = QStringLiteral("OpenCV DNN 4.6.0 (2 threads)");
// As onnxruntime-node names itself: ONNX Runtime, which wins a tie of runtimes.
const QString ortNode = QStringLiteral("onnxruntime-node 1.20.1 (2 threads)");

QJsonObject latency(const QString &runtime, int batch, double median)
{
    return { { QStringLiteral("runtime"), runtime }, { QStringLiteral("batch"), batch },
        { QStringLiteral("median_ms"), median }, { QStringLiteral("p90_ms"), median * 1.1 } };
}

// An export report as ExportReport::toJson() writes it, with the fields the chart reads.
QJsonObject report(const QString &out, const QString &quantize, bool structured, double after,
    qint64 fileBytes, const QJsonArray &latencies, int images = 1000, double before = 0.90)
{
    QJsonObject size { { QStringLiteral("file_bytes"), fileBytes },
        { QStringLiteral("zip_bytes"), fileBytes * 9 / 10 },
        { QStringLiteral("dense_fp32_bytes"), 400000 } };
    QJsonObject verification { { QStringLiteral("accuracy_before"), before },
        { QStringLiteral("accuracy_after"), after },
        { QStringLiteral("data_set"), QStringLiteral("test") },
        { QStringLiteral("images"), images } };
    QJsonObject r { { QStringLiteral("out"), QString(QStringLiteral("/runs/a/") + out) },
        { QStringLiteral("format"), QStringLiteral("onnx") },
        { QStringLiteral("quantize"), quantize }, { QStringLiteral("structured"), structured },
        { QStringLiteral("size"), size }, { QStringLiteral("verification"), verification } };
    if (!latencies.isEmpty())
        r[QStringLiteral("latency")] = latencies;
    return r;
}

// A run's five exports: fp32, int8 weights, static int8 (the fastest that keeps the accuracy),
// static int8 + structured (faster, smaller, but 2.5 points down) and fp32 + structured without
// latency (exported with --latency-runs 0).
QList<QJsonObject> fiveReports()
{
    return {
        report(QStringLiteral("a.onnx"), QStringLiteral("none"), false, 0.90, 400000,
            { latency(ort, 1, 2.0), latency(ort, 32, 40.0), latency(opencv, 1, 3.0),
                latency(opencv, 32, 60.0) }),
        report(QStringLiteral("a.int8.onnx"), QStringLiteral("int8"), false, 0.895, 110000,
            { latency(ort, 1, 2.1), latency(ort, 32, 42.0) }),
        report(QStringLiteral("a.static.onnx"), QStringLiteral("int8-static"), false, 0.893, 105000,
            { latency(ort, 1, 1.0), latency(ort, 32, 20.0) }),
        report(QStringLiteral("a.static.structured.onnx"), QStringLiteral("int8-static"), true,
            0.875, 60000, { latency(ort, 1, 0.6), latency(ort, 32, 12.0) }),
        report(
            QStringLiteral("a.structured.onnx"), QStringLiteral("none"), true, 0.899, 200000, {}),
    };
}

int indexOf(const ExportChartData &d, const QString &fileName)
{
    for (int i = 0; i < d.points.size(); ++i)
        if (QFileInfo(d.points[i].file).fileName() == fileName)
            return i;
    return -1;
}

} // namespace

class TestExportChart : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void pointsComeFromTheReportsWithTheDenseCheckpointFirst();
    void recommendsTheFastestExportWithinOnePointOfDense();
    void batch32TakesTheBatch32Latencies();
    void onnxRuntimeWinsATieOfRuntimes();
    void aSmallerFileWithin5PercentOfTheFastestIsRecommended();
    void withoutAnyLatencyTheSmallestAccurateFileIsRecommended();
    void noExportKeepsTheAccuracy();
    void reportsAreSavedAndReadFromTheRunsExportsFolder();
    void chartDrawsSizesHoverAndSaves();
    void longFileNamesWrapInsteadOfWideningTheChart();
    void namesOfNearbyPointsDoNotOverlap();
};

void TestExportChart::pointsComeFromTheReportsWithTheDenseCheckpointFirst()
{
    const ExportChartData d = exportChartData(fiveReports(), 1);
    QCOMPARE(d.runtime, ort); // it timed 4 reports, OpenCV 1
    QCOMPARE(d.points.size(), 6);
    const ExportChartPoint &dense = d.points.first();
    QVERIFY(dense.dense);
    QCOMPARE(dense.accuracy, 0.90);
    QCOMPARE(dense.fileBytes, qint64(400000)); // 4 × dense parameters
    QCOMPARE(dense.latencyMs, 2.0); // the fp32 export's, the same computation
    const ExportChartPoint &s = d.points[indexOf(d, QStringLiteral("a.static.onnx"))];
    QCOMPARE(s.label, QStringLiteral("static int8"));
    QCOMPARE(s.accuracy, 0.893);
    QCOMPARE(s.denseAccuracy, 0.90);
    QCOMPARE(s.fileBytes, qint64(105000));
    QCOMPARE(s.zipBytes, qint64(94500));
    QCOMPARE(s.latencyMs, 1.0);
    QCOMPARE(s.p90Ms, 1.1);
    QCOMPARE(s.runtime, ort);
    const ExportChartPoint &u = d.points[indexOf(d, QStringLiteral("a.structured.onnx"))];
    QCOMPARE(u.label, QStringLiteral("fp32 + structured"));
    QVERIFY(!u.hasLatency()); // a report without latency is still a point
    QCOMPARE(u.accuracy, 0.899);
}

void TestExportChart::recommendsTheFastestExportWithinOnePointOfDense()
{
    const ExportChartData d = exportChartData(fiveReports(), 1);
    QCOMPARE(d.recommended, indexOf(d, QStringLiteral("a.static.onnx")));
    QVERIFY2(
        d.recommendation.contains(QLatin1String("a.static.onnx")), qPrintable(d.recommendation));
    QVERIFY(d.recommendation.contains(QLatin1String("1.00 ms at batch 1")));
}

void TestExportChart::batch32TakesTheBatch32Latencies()
{
    const ExportChartData d = exportChartData(fiveReports(), 32);
    QCOMPARE(d.batch, 32);
    QCOMPARE(d.points.first().latencyMs, 40.0);
    QCOMPARE(d.points[indexOf(d, QStringLiteral("a.int8.onnx"))].latencyMs, 42.0);
    QCOMPARE(d.recommended, indexOf(d, QStringLiteral("a.static.onnx")));
}

void TestExportChart::onnxRuntimeWinsATieOfRuntimes()
{
    const QList<QJsonObject> reports {
        report(QStringLiteral("a.onnx"), QStringLiteral("none"), false, 0.90, 400000,
            { latency(opencv, 1, 3.0), latency(ortNode, 1, 2.0) }),
        report(QStringLiteral("b.onnx"), QStringLiteral("none"), true, 0.90, 200000,
            { latency(ortNode, 1, 1.5), latency(opencv, 1, 2.5) }),
    };
    const ExportChartData d = exportChartData(reports, 1);
    QCOMPARE(d.runtime, ortNode);
    QCOMPARE(d.points.first().latencyMs, 2.0); // the dense checkpoint: a.onnx in ONNX Runtime
    QCOMPARE(d.points[indexOf(d, QStringLiteral("b.onnx"))].latencyMs, 1.5);
}

void TestExportChart::aSmallerFileWithin5PercentOfTheFastestIsRecommended()
{
    QList<QJsonObject> reports = fiveReports();
    reports << report(QStringLiteral("a.static.pct.onnx"), QStringLiteral("int8-static"), false,
        0.892, 90000, { latency(ort, 1, 1.04) });
    const ExportChartData d = exportChartData(reports, 1);
    QCOMPARE(d.recommended, indexOf(d, QStringLiteral("a.static.pct.onnx")));
    // 6 % slower is not "as fast": the fastest stays.
    reports.last() = report(QStringLiteral("a.static.pct.onnx"), QStringLiteral("int8-static"),
        false, 0.892, 90000, { latency(ort, 1, 1.06) });
    const ExportChartData e = exportChartData(reports, 1);
    QCOMPARE(e.recommended, indexOf(e, QStringLiteral("a.static.onnx")));
}

void TestExportChart::withoutAnyLatencyTheSmallestAccurateFileIsRecommended()
{
    const QList<QJsonObject> reports {
        report(QStringLiteral("a.onnx"), QStringLiteral("none"), false, 0.90, 400000, {}),
        report(QStringLiteral("a.int8.onnx"), QStringLiteral("int8"), false, 0.895, 110000, {}),
        report(QStringLiteral("a.tiny.onnx"), QStringLiteral("int8-static"), true, 0.80, 50000, {}),
    };
    const ExportChartData d = exportChartData(reports, 1);
    QVERIFY(d.runtime.isEmpty());
    QCOMPARE(d.points.size(), 4);
    for (const ExportChartPoint &p : d.points)
        QVERIFY(!p.hasLatency());
    QCOMPARE(d.recommended, indexOf(d, QStringLiteral("a.int8.onnx")));
    QVERIFY(d.recommendation.contains(QLatin1String("no latency measured")));
}

void TestExportChart::noExportKeepsTheAccuracy()
{
    const ExportChartData d = exportChartData(
        { report(QStringLiteral("a.onnx"), QStringLiteral("int8"), false, 0.85, 1000, {}) }, 1);
    QCOMPARE(d.recommended, -1);
    QVERIFY(d.recommendation.startsWith(QLatin1String("No export keeps")));
    QCOMPARE(exportChartData({}, 1).points.size(), 0);
    QCOMPARE(
        exportChartData({}, 1).recommendation, QStringLiteral("No export reports for this run."));
}

void TestExportChart::reportsAreSavedAndReadFromTheRunsExportsFolder()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString run = tmp.filePath(QStringLiteral("run"));
    QString error;
    for (const QJsonObject &r : fiveReports())
        QVERIFY2(saveExportReport(run, r, &error), qPrintable(error));
    QVERIFY(QFile::exists(QDir(run).filePath(QStringLiteral("exports/a.static.onnx.json"))));
    QFile other(QDir(run).filePath(QStringLiteral("exports/notes.json")));
    QVERIFY(other.open(QIODevice::WriteOnly));
    other.write("{\"hello\": 1}");
    other.close();
    QStringList problems;
    const QList<QJsonObject> read = readExportReports(run, &problems);
    QCOMPARE(read.size(), 5);
    QCOMPARE(problems, QStringList { QStringLiteral("notes.json is not an export report") });
    const ExportChartData d = exportChartData(read, 1);
    QCOMPARE(QFileInfo(d.points[d.recommended].file).fileName(), QStringLiteral("a.static.onnx"));
    QVERIFY(!saveExportReport(run, QJsonObject(), &error));
    QVERIFY(!error.isEmpty());
}

void TestExportChart::chartDrawsSizesHoverAndSaves()
{
    QTemporaryDir tmp;
    QString error;
    for (const QJsonObject &r : fiveReports())
        QVERIFY(saveExportReport(tmp.path(), r, &error));
    ExportChart chart;
    chart.resize(760, 480);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    chart.setRunDir(tmp.path());
    const ExportChartData &d = chart.data();
    QCOMPARE(d.points.size(), 6);
    // The marker grows with the file: dense (400 kB) > fp32 + structured (200 kB) > static int8.
    const int fp32s = indexOf(d, QStringLiteral("a.structured.onnx"));
    const int stat = indexOf(d, QStringLiteral("a.static.onnx"));
    QCOMPARE(chart.markerSize(0), 40.0);
    QVERIFY(chart.markerSize(0) > chart.markerSize(fp32s));
    QVERIFY(chart.markerSize(fp32s) > chart.markerSize(stat));
    // The faster point sits further left; the one without latency at 0 ms.
    QVERIFY(chart.pointPosition(stat).x() < chart.pointPosition(0).x());
    QCOMPARE(
        chart.pointPosition(fp32s).x(), int(std::lround(chart.plot()->xAxis->coordToPixel(0.0))));
    const QString tip = chart.toolTipAt(chart.pointPosition(stat));
    QVERIFY2(tip.startsWith(QLatin1String("a.static.onnx (static int8): 89.3 % accuracy (dense "
                                          "90.0 %)")),
        qPrintable(tip));
    QVERIFY(tip.contains(QLatin1String("on 1000 images of the test set")));
    QVERIFY(tip.contains(QLatin1String("1.00 ms")));
    QVERIFY(chart.toolTipAt(chart.pointPosition(0)).startsWith(QLatin1String("dense checkpoint")));
    QVERIFY(chart.toolTipAt(QPoint(-100, -100)).isEmpty());
    // Moving the mouse onto a point shows its text as the plot's tool tip.
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    const QPoint at = chart.pointPosition(stat);
    QTest::mouseMove(chart.plot(), at);
    QTRY_VERIFY2(
        QToolTip::isVisible() && QToolTip::text().startsWith(QLatin1String("a.static.onnx")),
        qPrintable(QToolTip::text()));
    chart.hide();
    QVERIFY(chart.recommendationText().contains(QLatin1String("Recommended: a.static.onnx")));
    QVERIFY(chart.recommendationText().contains(QLatin1String("1 export(s) without a latency")));
    chart.setBatch(32);
    QCOMPARE(chart.data().points.first().latencyMs, 40.0);
    QVERIFY(chart.recommendationText().contains(QLatin1String("at batch 32")));
    chart.layout()->activate(); // the label's new lines, before the picture
    guitestdata::saveScreenshot(&chart, "exportchart");
    for (const char *name : { "chart.png", "chart.pdf" }) {
        const QString path = tmp.filePath(QLatin1String(name));
        QVERIFY2(chart.save(path, &error), qPrintable(error));
        QVERIFY(QFileInfo(path).size() > 1000);
    }
    QVERIFY(!chart.save(tmp.filePath(QStringLiteral("chart.svg")), &error));
}

// The recommendation names the file; a long name wraps, so the chart (and the export dialog around
// it) keeps its width.
void TestExportChart::longFileNamesWrapInsteadOfWideningTheChart()
{
    ExportChart chart;
    chart.setReports(fiveReports());
    const int width = chart.minimumSizeHint().width();
    QList<QJsonObject> reports = fiveReports();
    reports[2][QStringLiteral("out")] = QString(QStringLiteral("/runs/a/")
        + QStringLiteral("resnet18-224px-fashion-mnist-3-epochs-80-percent-channels-").repeated(3)
        + QStringLiteral("static.onnx"));
    chart.setReports(reports);
    QVERIFY(chart.recommendationText().contains(QLatin1String("resnet18-224px")));
    QCOMPARE(chart.minimumSizeHint().width(), width);
    QVERIFY2(width < 500, qPrintable(QString::number(width)));
    chart.resize(700, 480);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    auto *label = chart.findChild<QLabel *>(QStringLiteral("recommendation"));
    QVERIFY(label->wordWrap());
    // Every wrapped line is shown: the label is as tall as its text at its width.
    QTRY_VERIFY(label->height() >= label->heightForWidth(label->width()));
    guitestdata::saveScreenshot(&chart, "exportchart-longname");
}

// A small model's six exports sit within a few pixels of each other (all within 0.2 points and
// 0.3 ms): every name gets a place of its own, clear of the other names and markers.
void TestExportChart::namesOfNearbyPointsDoNotOverlap()
{
    const QList<QJsonObject> reports {
        report(QStringLiteral("s.onnx"), QStringLiteral("none"), false, 0.807, 386716,
            { latency(ort, 1, 0.31) }, 2000, 0.807),
        report(QStringLiteral("s.structured.onnx"), QStringLiteral("none"), true, 0.807, 99641,
            { latency(ort, 1, 0.17) }, 2000, 0.807),
        report(QStringLiteral("s.int8.onnx"), QStringLiteral("int8"), false, 0.8085, 100357,
            { latency(ort, 1, 0.37) }, 2000, 0.807),
        report(QStringLiteral("s.int8.structured.onnx"), QStringLiteral("int8"), true, 0.807, 27854,
            { latency(ort, 1, 0.22) }, 2000, 0.807),
        report(QStringLiteral("s.static.onnx"), QStringLiteral("int8-static"), false, 0.8085,
            101311, { latency(ort, 1, 0.27) }, 2000, 0.807),
        report(QStringLiteral("s.static.structured.onnx"), QStringLiteral("int8-static"), true,
            0.8085, 28342, { latency(ort, 1, 0.16) }, 2000, 0.807),
    };
    ExportChart chart;
    chart.resize(720, 480);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    chart.setReports(reports);
    chart.plot()->replot();
    const int n = int(chart.data().points.size());
    QCOMPARE(n, 7);
    const QRectF area = chart.plot()->axisRect()->rect();
    for (int i = 0; i < n; ++i) {
        const QRectF a = chart.labelRect(i);
        QVERIFY(a.isValid());
        QVERIFY2(area.contains(a), qPrintable(chart.data().points[i].label));
        for (int j = 0; j < n; ++j) {
            const QPointF c = chart.pointPosition(j);
            const double r = chart.markerSize(j) / 2.0;
            const QRectF marker(c.x() - r, c.y() - r, 2 * r, 2 * r);
            QVERIFY2(!a.intersects(marker),
                qPrintable(QStringLiteral("%1 on the marker of %2")
                               .arg(chart.data().points[i].label, chart.data().points[j].label)));
            if (j != i)
                QVERIFY2(!a.intersects(chart.labelRect(j)),
                    qPrintable(
                        QStringLiteral("%1 on %2")
                            .arg(chart.data().points[i].label, chart.data().points[j].label)));
        }
    }
    guitestdata::saveScreenshot(&chart, "exportchart-nearby");
}

QTEST_MAIN(TestExportChart)
#include "tst_exportchart.moc"
