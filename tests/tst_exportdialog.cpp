// ExportDialog on a real run folder (a tiny smallcnn trained for one epoch with pruning): the size
// preview follows the options, an ONNX int8 export writes the file and reports its sizes (table and
// chart) and verification, LibTorch turns the ONNX-only options off, an unwritable output is said
// inline and leaves no file, and Cancel, closing and destroying the dialog during an export stop it
// with nothing written. Set LEANTUNE_SCREENSHOT_DIR to save the dialog after the export as a PNG.

#include "guiscreenshot.h"
#include "guitestdata.h"
#include "trainerharness.h"

#include "widgets/charts/qcp.h"
#include "widgets/dialogs/exportdialog.h"
#include "widgets/export/exportchart.h"
#include "metrics/bytesize.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

using namespace leantune;
using testtrainer::TrainerHarness;

namespace {

constexpr int kExportTimeoutMs = 180000;

template <typename T> T *child(QWidget *parent, const char *name)
{
    return parent->findChild<T *>(QLatin1String(name));
}

double ratioIn(const QTableWidget *table, int row)
{
    QString text = table->item(row, 1)->text();
    text.chop(1); // the "×"
    return text.toDouble();
}

} // namespace

class TestExportDialog : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_run, m_out;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_CONFIG_HOME", m_dir.filePath(QStringLiteral("config")).toUtf8());
        qputenv("LEANTUNE_DATA_DIR", m_dir.filePath(QStringLiteral("userdata")).toUtf8());
        const QString data = m_dir.filePath(QStringLiteral("data"));
        const QString test = m_dir.filePath(QStringLiteral("test"));
        guitestdata::writeImageFolder(data, 3, 40, 28, 1);
        // A test folder large enough that verification takes many batches (Cancel lands in it).
        guitestdata::writeImageFolder(test, 3, 300, 28, 2);
        m_run = m_dir.filePath(QStringLiteral("runs/tiny"));
        m_out = m_dir.filePath(QStringLiteral("out"));
        QVERIFY(QDir().mkpath(m_out));

        RunConfig c;
        c.dataDir = data;
        c.testDir = test;
        c.outDir = m_run;
        c.model.inputSize = 28; // smallcnn's pooled map is 7x7: exact in ONNX
        c.batchSize = 16;
        c.epochs = 1;
        c.device = QStringLiteral("cpu");
        c.workers = 1;
        c.threads = 1;
        c.prune = QStringLiteral("polynomial:0.3:0.6:1:6:3:1");
        TrainerHarness h(c, {});
        QVERIFY(h.run());
        QVERIFY2(h.failed->isEmpty(), qPrintable(h.error()));
        QVERIFY(QFileInfo::exists(QDir(m_run).filePath(QStringLiteral("model.pt"))));
    }

    void previewFollowsTheOptions()
    {
        ExportDialog d(m_run);
        QCOMPARE(d.options().format, ExportFormat::Onnx);
        QCOMPARE(d.options().outFile, QDir(m_run).filePath(QStringLiteral("tiny.onnx")));
        QCOMPARE(d.options().limit, 2000);
        QVERIFY(child<QLabel>(&d, "run")->text().contains(QStringLiteral("smallcnn")));
        QTRY_VERIFY(d.preview().has_value());
        const SizeReport fp32 = *d.preview();
        QVERIFY(fp32.denseFp32Bytes > 0);
        QCOMPARE(fp32.denseFp32Bytes, 4 * fp32.denseParameters);
        QVERIFY(fp32.fileBytes > fp32.denseFp32Bytes); // weights plus framing
        QVERIFY(fp32.nonzeroParameters < fp32.parameters); // pruned
        QVERIFY2(
            d.previewText().contains(formatBytes(fp32.fileBytes)), qPrintable(d.previewText()));
        QVERIFY(d.previewText().contains(ExportDialog::ratioText(fp32.ratio(fp32.zipBytes))));

        // int8 weights: a new preview, about four times smaller.
        QSignalSpy ready(&d, &ExportDialog::previewReady);
        child<QComboBox>(&d, "quantize")->setCurrentIndex(1);
        QVERIFY(!d.preview()); // the fp32 one is gone
        QTRY_COMPARE(ready.count(), 1);
        QVERIFY(d.preview());
        QCOMPARE(d.preview()->denseFp32Bytes, fp32.denseFp32Bytes);
        QVERIFY(d.preview()->fileBytes * 3 < fp32.denseFp32Bytes);
        QVERIFY(d.previewText().contains(formatBytes(d.preview()->fileBytes)));
        QVERIFY(d.errorText().isEmpty());
    }

    void libtorchTurnsOffTheOnnxOptions()
    {
        ExportDialog d(m_run);
        auto *quantize = child<QComboBox>(&d, "quantize");
        auto *structured = child<QCheckBox>(&d, "structured");
        quantize->setCurrentIndex(1);
        structured->setChecked(true);
        QVERIFY(quantize->isEnabled() && structured->isEnabled());
        child<QComboBox>(&d, "format")->setCurrentIndex(1);
        QVERIFY(!quantize->isEnabled());
        QVERIFY(!structured->isEnabled());
        QCOMPARE(quantize->currentData().toString(), QStringLiteral("none"));
        QVERIFY(!structured->isChecked());
        const ExportOptions o = d.options();
        QCOMPARE(o.format, ExportFormat::LibTorch);
        QCOMPARE(o.quantize, ExportQuantization::None);
        QVERIFY(!o.structured);
        QVERIFY2(o.outFile.endsWith(QLatin1String("/tiny.pt")), qPrintable(o.outFile));
        QTRY_VERIFY(d.preview().has_value());
        QVERIFY(d.preview()->fileBytes > 0);
        QVERIFY(guitestdata::saveScreenshot(&d, "export-libtorch"));
        // Back to ONNX: the options are offered again.
        child<QComboBox>(&d, "format")->setCurrentIndex(0);
        QVERIFY(quantize->isEnabled() && structured->isEnabled());
        QVERIFY(d.options().outFile.endsWith(QLatin1String("/tiny.onnx")));
    }

    void onnxInt8ExportReportsSizesAndAgreement()
    {
        ExportDialog d(m_run);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        const QString out = QDir(m_out).filePath(QStringLiteral("model-int8.onnx"));
        child<QLineEdit>(&d, "outFile")->setText(out);
        child<QComboBox>(&d, "quantize")->setCurrentIndex(1);
        child<QSpinBox>(&d, "limit")->setValue(300);
        QVERIFY(!child<QGroupBox>(&d, "report")->isVisible());
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        QSignalSpy progress(d.progressBar(), &QProgressBar::valueChanged);
        QTest::mouseClick(child<QPushButton>(&d, "export"), Qt::LeftButton);
        QVERIFY(d.isExporting());
        QVERIFY(!child<QPushButton>(&d, "export")->isEnabled());
        QVERIFY(child<QPushButton>(&d, "cancel")->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kExportTimeoutMs);
        QVERIFY2(finished.first().first().toBool(), qPrintable(d.errorText()));
        QVERIFY(d.errorText().isEmpty());
        QVERIFY(progress.count() >= 3); // moved through the stages
        QCOMPARE(d.progressBar()->value(), d.progressBar()->maximum());
        QVERIFY(!child<QPushButton>(&d, "cancel")->isEnabled());

        QVERIFY(QFileInfo::exists(out));
        QVERIFY(d.report());
        const ExportReport r = *d.report();
        QCOMPARE(r.outFile, out);
        QCOMPARE(r.quantize, QStringLiteral("int8"));
        QCOMPARE(r.images, 300);
        QCOMPARE(r.size.fileBytes, QFileInfo(out).size());
        QVERIFY(r.runtimeAgreement >= 0.995);
        QVERIFY2(
            d.statusText().contains(QDir::toNativeSeparators(out)), qPrintable(d.statusText()));

        // The report is saved in the run's exports folder, and the run's exports chart shows it
        // beside the dense checkpoint.
        QVERIFY(QFileInfo::exists(exportReportsDir(m_run) + QStringLiteral("/")
            + QFileInfo(out).fileName() + QStringLiteral(".json")));
        const QList<ExportChartPoint> points = d.exportsChart()->data().points;
        QVERIFY(points.size() >= 2 && points.first().dense);
        QVERIFY(std::any_of(points.begin(), points.end(),
            [&out](const ExportChartPoint &p) { return p.file == out; }));

        // The size table: dense fp32, file, zip, sparse with readable sizes and ratios > 1.
        QVERIFY(child<QGroupBox>(&d, "report")->isVisible());
        const QTableWidget *sizes = d.sizeTable();
        QCOMPARE(sizes->rowCount(), 4);
        const qint64 bytes[]
            = { r.size.denseFp32Bytes, r.size.fileBytes, r.size.zipBytes, r.size.sparseBytes };
        for (int row = 0; row < 4; ++row) {
            QCOMPARE(sizes->item(row, 0)->text(), formatBytes(bytes[row]));
            QCOMPARE(
                sizes->item(row, 1)->text(), ExportDialog::ratioText(r.size.ratio(bytes[row])));
        }
        QCOMPARE(ratioIn(sizes, 0), 1.0);
        for (int row = 1; row < 4; ++row)
            QVERIFY2(ratioIn(sizes, row) > 1.0, qPrintable(sizes->item(row, 1)->text()));
        QVERIFY(ratioIn(sizes, 1) > 3.0); // int8 weights

        // Parameters, accuracy before/after, agreement and the logit difference.
        const QTableWidget *v = d.verificationTable();
        QCOMPARE(v->rowCount(), 7);
        QCOMPARE(v->item(0, 0)->text(), QLocale().toString(r.size.parameters));
        QVERIFY(v->item(1, 0)->text().startsWith(QLocale().toString(r.size.nonzeroParameters)));
        QCOMPARE(
            v->item(2, 0)->text(), QStringLiteral("%1 %").arg(r.accuracyBefore * 100.0, 0, 'f', 2));
        QCOMPARE(
            v->item(3, 0)->text(), QStringLiteral("%1 %").arg(r.accuracyAfter * 100.0, 0, 'f', 2));
        QCOMPARE(v->item(4, 0)->text(), QStringLiteral("%1 %").arg(r.agreement * 100.0, 0, 'f', 2));
        // The accuracies name their set, and the agreement is one figure: the table's is the
        // text's.
        QVERIFY(v->verticalHeaderItem(2)->text().contains(QStringLiteral("test set")));
        QVERIFY(v->verticalHeaderItem(3)->text().contains(QStringLiteral("test set")));
        QVERIFY(r.toText().contains(QStringLiteral("top-1 agreement with the trained model: %1%")
                                        .arg(r.agreement * 100.0, 0, 'f', 2)));
        QVERIFY(
            !r.toText().contains(QStringLiteral("%1%").arg(r.runtimeAgreement * 100.0, 0, 'f', 2))
            || r.runtimeAgreement == r.agreement);
        QCOMPARE(v->item(5, 0)->text(), QString::number(r.maxAbsLogitDiff, 'g', 3));
        QVERIFY2(v->item(5, 0)->toolTip().contains(QStringLiteral("%1 near-ties").arg(r.nearTies)),
            qPrintable(v->item(5, 0)->toolTip()));

        // The chart: the four sizes as horizontal bars, in the unit of the largest.
        QCustomPlot *chart = d.sizeChart();
        QCOMPARE(chart->plottableCount(), 2);
        int bars = 0;
        double largest = 0.0;
        for (int i = 0; i < chart->plottableCount(); ++i) {
            auto *b = qobject_cast<QCPBars *>(chart->plottable(i));
            QVERIFY(b);
            QCOMPARE(b->keyAxis(), chart->yAxis);
            bars += b->dataCount();
            for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it)
                largest = std::max(largest, it->value);
        }
        QCOMPARE(bars, 4);
        QVERIFY(largest > 0.0 && chart->xAxis->range().upper > largest);
        // The dialog grew to show the report without squeezing it (the window system applies the
        // size asynchronously).
        QTRY_VERIFY(
            d.height() >= d.minimumSizeHint().height() && d.width() >= d.minimumSizeHint().width());
        // Every value is shown whole, not elided.
        for (int row = 0; row < v->rowCount(); ++row)
            QVERIFY2(v->columnWidth(0)
                    >= v->fontMetrics().horizontalAdvance(v->item(row, 0)->text()) + 6,
                qPrintable(QStringLiteral("%1 in %2 px")
                               .arg(v->item(row, 0)->text())
                               .arg(v->columnWidth(0))));
        QVERIFY(guitestdata::saveScreenshot(&d, "export"));
    }

    // Static int8 shows its calibration folder (empty: the run's training folder); a folder with
    // other classes is refused inline and writes nothing; the training folder exports a file whose
    // report says int8-static.
    void staticInt8TakesACalibrationFolder()
    {
        ExportDialog d(m_run);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        auto *calibration = child<QLineEdit>(&d, "calibration");
        QVERIFY(!calibration->isVisible());
        child<QComboBox>(&d, "quantize")->setCurrentIndex(2);
        QVERIFY(calibration->isVisible());
        QCOMPARE(d.options().quantize, ExportQuantization::Int8Static);
        child<QSpinBox>(&d, "limit")->setValue(60);
        const QString out = QDir(m_out).filePath(QStringLiteral("model-int8-static.onnx"));
        child<QLineEdit>(&d, "outFile")->setText(out);

        const QString other = m_dir.filePath(QStringLiteral("two-classes"));
        guitestdata::writeImageFolder(other, 2, 4, 28, 5);
        calibration->setText(other);
        QCOMPARE(d.options().calibrationDir, other);
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        child<QPushButton>(&d, "export")->click();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kExportTimeoutMs);
        QVERIFY(!finished.first().first().toBool());
        QVERIFY2(d.errorText().contains(QStringLiteral("class")), qPrintable(d.errorText()));
        QVERIFY(!QFileInfo::exists(out));

        calibration->clear();
        QVERIFY(d.options().calibrationDir.isEmpty());
        child<QPushButton>(&d, "export")->click();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kExportTimeoutMs);
        QVERIFY2(finished.last().first().toBool(), qPrintable(d.errorText()));
        QVERIFY(QFileInfo::exists(out));
        QVERIFY(d.report());
        QCOMPARE(d.report()->toJson().value(QStringLiteral("quantize")).toString(),
            QStringLiteral("int8-static"));
        QVERIFY(guitestdata::saveScreenshot(&d, "export-int8-static"));
    }

    // After an export of each kind the report fits a 1366x768 screen's width, and no kind widens
    // the dialog: the verification note and the exports chart's recommendation wrap (on one line
    // the run's growing list of exports and their names made the static int8 dialog 1262 px wide).
    void theReportFitsA1366PxScreenForEveryQuantization()
    {
        ExportDialog d(m_run);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        child<QSpinBox>(&d, "limit")->setValue(60);
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        auto *quantize = child<QComboBox>(&d, "quantize");
        auto *note = child<QLabel>(&d, "note");
        int firstWidth = 0;
        for (int i = 0; i < quantize->count(); ++i) {
            quantize->setCurrentIndex(i);
            child<QLineEdit>(&d, "outFile")
                ->setText(QDir(m_out).filePath(QStringLiteral("fits-%1.onnx").arg(i)));
            child<QPushButton>(&d, "export")->click();
            QTRY_COMPARE_WITH_TIMEOUT(finished.count(), i + 1, kExportTimeoutMs);
            QVERIFY2(finished.last().first().toBool(), qPrintable(d.errorText()));
            const QString what = quantize->currentText();
            QVERIFY2(d.minimumSizeHint().width() <= 1366,
                qPrintable(QStringLiteral("%1: %2 px").arg(what).arg(d.minimumSizeHint().width())));
            QVERIFY2(d.sizeHint().width() <= 1366,
                qPrintable(QStringLiteral("%1: %2 px").arg(what).arg(d.sizeHint().width())));
            QTRY_VERIFY2(d.frameGeometry().width() <= 1366,
                qPrintable(QStringLiteral("%1: %2 px").arg(what).arg(d.frameGeometry().width())));
            // The file is timed (float32 loads in OpenCV DNN), so it has a latency on the chart.
            if (i == 0)
                QVERIFY(d.report() && !d.report()->latency.isEmpty());
            if (i == 0)
                firstWidth = d.minimumSizeHint().width();
            QVERIFY2(d.minimumSizeHint().width() == firstWidth,
                qPrintable(QStringLiteral("%1: %2 px, float32 %3 px")
                               .arg(what)
                               .arg(d.minimumSizeHint().width())
                               .arg(firstWidth)));
            // The note says what was verified on, wrapped and shown whole.
            QVERIFY2(note->text().contains(
                         QStringLiteral("a class-balanced sample of 60 of the 900 images")),
                qPrintable(note->text()));
            QTRY_VERIFY(note->height() >= note->heightForWidth(note->width()));
            if (i == 2)
                QVERIFY(guitestdata::saveScreenshot(&d, "export-fits-int8-static"));
        }
        QVERIFY(note->wordWrap());
    }

    void unwritableOutputIsReportedInline()
    {
        // A "folder" that is a file: not writable whoever runs the test (also root).
        const QString blocker = m_dir.filePath(QStringLiteral("not-a-folder"));
        QFile f(blocker);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.close();
        const QString out = QDir(blocker).filePath(QStringLiteral("model.onnx"));
        ExportDialog d(m_run);
        d.show();
        child<QLineEdit>(&d, "outFile")->setText(out);
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        child<QPushButton>(&d, "export")->click();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kExportTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY2(d.errorText().contains(QStringLiteral("cannot write")), qPrintable(d.errorText()));
        auto *error = child<QLabel>(&d, "error");
        QVERIFY(error->isVisible());
        QVERIFY(error->styleSheet().contains(QStringLiteral("#b00020")));
        QVERIFY(!d.report());
        // No report of its own: at most the run's earlier exports on the All exports tab.
        QVERIFY(!d.sizeTable()->isVisible() && !d.verificationTable()->isVisible());
        QVERIFY(!QFileInfo::exists(out));
        QVERIFY(child<QPushButton>(&d, "export")->isEnabled()); // the user can fix it and retry
        QVERIFY(guitestdata::saveScreenshot(&d, "export-error"));

        // Fixed: the error goes away with a successful export.
        const QString good = QDir(m_out).filePath(QStringLiteral("retry.onnx"));
        child<QLineEdit>(&d, "outFile")->setText(good);
        child<QPushButton>(&d, "export")->click();
        QVERIFY(d.errorText().isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kExportTimeoutMs);
        QVERIFY2(finished.last().first().toBool(), qPrintable(d.errorText()));
        QVERIFY(QFileInfo::exists(good));
    }

    void cancelStopsTheExport()
    {
        const QString out = QDir(m_out).filePath(QStringLiteral("cancelled.onnx"));
        ExportDialog d(m_run);
        d.show();
        child<QLineEdit>(&d, "outFile")->setText(out);
        child<QSpinBox>(&d, "limit")->setValue(0); // all 900 test images: 15 verification batches
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        child<QPushButton>(&d, "export")->click();
        child<QPushButton>(&d, "cancel")->click(); // taken at the engine's next progress call
        QVERIFY(!child<QPushButton>(&d, "cancel")->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kExportTimeoutMs);
        QCOMPARE(finished.first().first().toBool(), false);
        QVERIFY2(d.statusText().contains(QStringLiteral("Cancelled")), qPrintable(d.statusText()));
        QVERIFY(d.errorText().isEmpty());
        QVERIFY(!d.report());
        QVERIFY(!QFileInfo::exists(out));
        QCOMPARE(
            QDir(m_out).entryList({ QStringLiteral("cancelled*") }, QDir::Files | QDir::Hidden),
            QStringList());
    }

    void closingDuringAnExportCancelsIt()
    {
        const QString out = QDir(m_out).filePath(QStringLiteral("closed.onnx"));
        ExportDialog d(m_run);
        d.show();
        child<QLineEdit>(&d, "outFile")->setText(out);
        child<QSpinBox>(&d, "limit")->setValue(0);
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        QSignalSpy rejected(&d, &QDialog::rejected);
        d.startExport();
        d.reject();
        QVERIFY(d.isVisible()); // stays until the worker has stopped
        QTRY_COMPARE_WITH_TIMEOUT(rejected.count(), 1, kExportTimeoutMs);
        QVERIFY(!d.isVisible());
        QCOMPARE(finished.count(), 1);
        QVERIFY(!QFileInfo::exists(out));
    }

    void destroyingTheDialogDuringAnExportIsSafe()
    {
        const QString out = QDir(m_out).filePath(QStringLiteral("destroyed.onnx"));
        auto *d = new ExportDialog(m_run);
        child<QLineEdit>(d, "outFile")->setText(out);
        child<QSpinBox>(d, "limit")->setValue(0);
        d->startExport();
        QVERIFY(d->isExporting());
        delete d; // cancels and joins the worker; its queued progress calls are dropped
        QCoreApplication::processEvents();
        QVERIFY(!QFileInfo::exists(out));
    }

    // A run with exports from before (their reports in its exports folder) shows them on the All
    // exports tab as soon as the dialog opens, without this export's tables or Sizes tab; an
    // export made there brings those back. A run without exports opens without the report box.
    void earlierExportsShowWhenTheDialogOpens()
    {
        // A copy of the run folder's files, so that its exports are this test's alone.
        const QString run = m_dir.filePath(QStringLiteral("runs/earlier"));
        QVERIFY(QDir().mkpath(run));
        for (const QString &name : QDir(m_run).entryList(QDir::Files))
            QVERIFY(QFile::copy(QDir(m_run).filePath(name), QDir(run).filePath(name)));
        {
            ExportDialog fresh(run);
            fresh.show();
            QVERIFY(QTest::qWaitForWindowExposed(&fresh));
            QVERIFY(!child<QGroupBox>(&fresh, "report")->isVisible());
        }
        for (const char *quantize : { "none", "int8" }) {
            ExportOptions o;
            QVERIFY(o.setQuantization(QLatin1String(quantize), nullptr));
            o.limit = 60;
            o.latencyRuns = 3;
            o.outFile = QDir(m_out).filePath(
                QStringLiteral("earlier-%1.onnx").arg(QLatin1String(quantize)));
            QString error;
            const std::optional<ExportReport> r = exportRun(run, o, &error);
            QVERIFY2(r, qPrintable(error));
            QVERIFY2(saveExportReport(run, r->toJson(), &error), qPrintable(error));
        }

        ExportDialog d(run);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        auto *report = child<QGroupBox>(&d, "report");
        auto *charts = child<QTabWidget>(&d, "charts");
        QVERIFY(report->isVisible());
        QCOMPARE(charts->currentWidget(), d.exportsChart());
        QVERIFY(d.exportsChart()->isVisible());
        QVERIFY(!charts->isTabVisible(charts->indexOf(d.sizeChart())));
        QVERIFY(!d.sizeTable()->isVisible());
        QVERIFY(!d.verificationTable()->isVisible());
        const QList<ExportChartPoint> points = d.exportsChart()->data().points;
        QCOMPARE(points.size(), 3); // the dense checkpoint and the two files
        QVERIFY(points.first().dense);
        QVERIFY(!d.report());
        QTRY_VERIFY(d.frameGeometry().width() <= 1366);
        QVERIFY(guitestdata::saveScreenshot(&d, "export-earlier-exports"));

        // An export in the dialog shows its own report beside them.
        child<QSpinBox>(&d, "limit")->setValue(60);
        child<QLineEdit>(&d, "outFile")
            ->setText(QDir(m_out).filePath(QStringLiteral("earlier-again.onnx")));
        QSignalSpy finished(&d, &ExportDialog::exportFinished);
        child<QPushButton>(&d, "export")->click();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kExportTimeoutMs);
        QVERIFY2(finished.first().first().toBool(), qPrintable(d.errorText()));
        QVERIFY(charts->isTabVisible(charts->indexOf(d.sizeChart())));
        QCOMPARE(charts->currentWidget(), d.sizeChart());
        QVERIFY(d.sizeTable()->isVisible());
        QCOMPARE(d.exportsChart()->data().points.size(), 4);
    }

    void aRunWithoutAModelSaysSo()
    {
        const QString empty = m_dir.filePath(QStringLiteral("runs/empty"));
        QVERIFY(QDir().mkpath(empty));
        ExportDialog d(empty);
        QVERIFY(!d.errorText().isEmpty());
        QTRY_VERIFY(d.previewText().contains(QStringLiteral("No preview")));
        QVERIFY(!d.preview());
    }
};

QTEST_MAIN(TestExportDialog)
#include "tst_exportdialog.moc"
