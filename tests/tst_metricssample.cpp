// MetricsSample's metrics.csv row: a figure that is not available (no
// validation yet, no device on the CPU, no fp16 loss scale) is an empty cell, not -1, so pandas
// reads NaN and spreadsheets a blank.

#include "metrics/metricssample.h"

#include <QTest>

using namespace leantune;

namespace {

// The row as a map from column name to cell.
QHash<QString, QString> cells(const MetricsSample &sample)
{
    const QStringList header = MetricsSample::csvHeader();
    const QStringList row = sample.toCsvRow().split(QLatin1Char(','));
    QHash<QString, QString> byName;
    for (int i = 0; i < header.size() && i < row.size(); ++i)
        byName.insert(header[i], row[i]);
    return byName;
}

} // namespace

class TestMetricsSample : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void rowHasOneCellPerColumn()
    {
        QCOMPARE(MetricsSample().toCsvRow().split(QLatin1Char(',')).size(),
            MetricsSample::csvHeader().size());
    }

    void missingValuesAreEmptyCells_data()
    {
        QTest::addColumn<QString>("column");
        for (const char *c :
            { "val_loss", "val_accuracy", "device_allocated_bytes", "device_reserved_bytes",
                "device_peak_bytes", "device_used_bytes", "device_total_bytes", "loss_scale" })
            QTest::newRow(c) << QString::fromLatin1(c);
    }

    void missingValuesAreEmptyCells()
    {
        QFETCH(QString, column);
        MetricsSample s; // a CPU sample between evaluations: every one of these is not available
        s.step = 7;
        s.loss = 0.5;
        const QHash<QString, QString> row = cells(s);
        QVERIFY(row.contains(column));
        QCOMPARE(row.value(column), QString());
        QVERIFY(!row.values().contains(QStringLiteral("-1")));
        QCOMPARE(row.value(QStringLiteral("step")), QStringLiteral("7"));
        QCOMPARE(row.value(QStringLiteral("loss")), QStringLiteral("0.5"));
    }

    void availableValuesAreWritten()
    {
        MetricsSample s;
        s.valLoss = 0.25;
        s.valAccuracy = 0.0; // a real 0 is a value, not a missing one
        s.deviceAllocatedBytes = 1024;
        s.deviceReservedBytes = 2048;
        s.devicePeakBytes = 0;
        s.deviceUsedBytes = 4096;
        s.deviceTotalBytes = 8192;
        s.lossScale = 65536.0;
        const QHash<QString, QString> row = cells(s);
        QCOMPARE(row.value(QStringLiteral("val_loss")), QStringLiteral("0.25"));
        QCOMPARE(row.value(QStringLiteral("val_accuracy")), QStringLiteral("0"));
        QCOMPARE(row.value(QStringLiteral("device_allocated_bytes")), QStringLiteral("1024"));
        QCOMPARE(row.value(QStringLiteral("device_reserved_bytes")), QStringLiteral("2048"));
        QCOMPARE(row.value(QStringLiteral("device_peak_bytes")), QStringLiteral("0"));
        QCOMPARE(row.value(QStringLiteral("device_used_bytes")), QStringLiteral("4096"));
        QCOMPARE(row.value(QStringLiteral("device_total_bytes")), QStringLiteral("8192"));
        QCOMPARE(row.value(QStringLiteral("loss_scale")), QStringLiteral("65536"));
    }
};

QTEST_GUILESS_MAIN(TestMetricsSample)
#include "tst_metricssample.moc"
