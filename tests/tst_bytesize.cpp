// parseByteSize / formatBytes: memory sizes as users type them (--memory-budget).

#include "metrics/bytesize.h"

#include <QTest>

using namespace leantune;

class TestByteSize : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parsesSizes_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<qint64>("bytes");
        QTest::newRow("plain bytes") << QStringLiteral("1048576") << qint64(1048576);
        QTest::newRow("2G") << QStringLiteral("2G") << (qint64(2) << 30);
        QTest::newRow("512M") << QStringLiteral("512M") << (qint64(512) << 20);
        QTest::newRow("64k lower case") << QStringLiteral("64k") << qint64(65536);
        QTest::newRow("1.5GiB") << QStringLiteral("1.5GiB") << (qint64(3) << 29);
        QTest::newRow("2 GB with space") << QStringLiteral(" 2 GB ") << (qint64(2) << 30);
        QTest::newRow("1T") << QStringLiteral("1T") << (qint64(1) << 40);
    }

    void parsesSizes()
    {
        QFETCH(QString, text);
        QFETCH(qint64, bytes);
        const std::optional<std::int64_t> v = parseByteSize(text);
        QVERIFY(v);
        QCOMPARE(qint64(*v), bytes);
    }

    void rejectsWhatIsNotASize_data()
    {
        QTest::addColumn<QString>("text");
        for (const char *t : { "", "lots", "-1G", "0", "2X", "G", "1.2.3M", "2GG" })
            QTest::newRow(t) << QString::fromLatin1(t);
    }

    void rejectsWhatIsNotASize()
    {
        QFETCH(QString, text);
        QVERIFY(!parseByteSize(text));
    }

    void formatsForPeople()
    {
        QCOMPARE(formatBytes(900), QStringLiteral("900 B"));
        QCOMPARE(formatBytes(qint64(512) << 20), QStringLiteral("512 MiB"));
        QCOMPARE(formatBytes(qint64(3) << 29), QStringLiteral("1.50 GiB"));
        QCOMPARE(formatBytes(-1), QStringLiteral("n/a"));
    }
};

QTEST_GUILESS_MAIN(TestByteSize)
#include "tst_bytesize.moc"
