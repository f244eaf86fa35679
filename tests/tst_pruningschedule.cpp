#include "prune/pruningschedule.h"

#include <QtTest>

using leantune::PruningSchedule;

Q_DECLARE_METATYPE(PruningSchedule)

class TestPruningSchedule : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void polynomialMatchesDesignReference_data();
    void polynomialMatchesDesignReference();
    void polynomialWithEndEqualBeginJumpsToFinal();
    void constantSparsityIsConstant();
    void noneNeverPrunes();
    void shouldUpdateFollowsGating_data();
    void shouldUpdateFollowsGating();
    void parseAcceptsValidSpecs_data();
    void parseAcceptsValidSpecs();
    void parseRejectsInvalidSpecs_data();
    void parseRejectsInvalidSpecs();
    void validateChecksConstructedSchedules();
    void toSpecRoundTrips_data();
    void toSpecRoundTrips();
    void updatesWithinNamesWhyARunWouldNotPrune_data();
    void updatesWithinNamesWhyARunWouldNotPrune();
};

void TestPruningSchedule::polynomialMatchesDesignReference_data()
{
    QTest::addColumn<std::int64_t>("step");
    QTest::addColumn<double>("expected");

    // DESIGN.md: PolynomialDecay(0.2, 0.8, 100, 110, 3, 2).
    QTest::newRow("before begin: initial") << std::int64_t(1) << 0.2;
    QTest::newRow("begin") << std::int64_t(100) << 0.2;
    QTest::newRow("102") << std::int64_t(102) << 0.4928;
    QTest::newRow("105") << std::int64_t(105) << 0.725;
    QTest::newRow("end") << std::int64_t(110) << 0.8;
    QTest::newRow("after end: final") << std::int64_t(500) << 0.8;
}

void TestPruningSchedule::polynomialMatchesDesignReference()
{
    QFETCH(std::int64_t, step);
    QFETCH(double, expected);
    const auto s = PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2);
    QVERIFY2(qAbs(s.sparsityAt(step) - expected) < 1e-4,
        qPrintable(QStringLiteral("got %1").arg(s.sparsityAt(step))));
    QCOMPARE(s.finalSparsity(), 0.8);
}

void TestPruningSchedule::polynomialWithEndEqualBeginJumpsToFinal()
{
    const auto s = PruningSchedule::polynomialDecay(0.1, 0.5, 10, 10, 3, 1);
    QVERIFY(s.validate());
    QCOMPARE(s.sparsityAt(9), 0.1);
    QCOMPARE(s.sparsityAt(10), 0.5);
    QCOMPARE(s.sparsityAt(11), 0.5);
    QVERIFY(s.shouldUpdate(10));
    QVERIFY(!s.shouldUpdate(11));
}

void TestPruningSchedule::constantSparsityIsConstant()
{
    const auto s = PruningSchedule::constantSparsity(0.6, 50);
    QCOMPARE(s.kind(), PruningSchedule::Kind::ConstantSparsity);
    for (std::int64_t step : { std::int64_t(1), std::int64_t(49), std::int64_t(50),
             std::int64_t(1000), std::int64_t(1000000) })
        QCOMPARE(s.sparsityAt(step), 0.6);
    QCOMPARE(s.finalSparsity(), 0.6);
    QCOMPARE(s.end(), std::int64_t(-1));
    QCOMPARE(s.frequency(), std::int64_t(100));
}

void TestPruningSchedule::noneNeverPrunes()
{
    const PruningSchedule s;
    QVERIFY(s.isNone());
    QVERIFY(s.validate());
    for (std::int64_t step :
        { std::int64_t(0), std::int64_t(1), std::int64_t(100), std::int64_t(10000) }) {
        QCOMPARE(s.sparsityAt(step), 0.0);
        QVERIFY(!s.shouldUpdate(step));
    }
    QCOMPARE(s.finalSparsity(), 0.0);
    QCOMPARE(s.toSpec(), QStringLiteral("none"));
}

void TestPruningSchedule::shouldUpdateFollowsGating_data()
{
    QTest::addColumn<PruningSchedule>("schedule");
    QTest::addColumn<std::int64_t>("step");
    QTest::addColumn<bool>("update");

    const auto poly = PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2);
    QTest::newRow("poly before begin") << poly << std::int64_t(99) << false;
    QTest::newRow("poly at begin") << poly << std::int64_t(100) << true;
    QTest::newRow("poly off frequency") << poly << std::int64_t(101) << false;
    QTest::newRow("poly on frequency") << poly << std::int64_t(102) << true;
    QTest::newRow("poly at end") << poly << std::int64_t(110) << true;
    QTest::newRow("poly after end on frequency") << poly << std::int64_t(112) << false;

    const auto bounded = PruningSchedule::constantSparsity(0.5, 10, 30, 10);
    QTest::newRow("constant before begin") << bounded << std::int64_t(0) << false;
    QTest::newRow("constant at begin") << bounded << std::int64_t(10) << true;
    QTest::newRow("constant off frequency") << bounded << std::int64_t(15) << false;
    QTest::newRow("constant at end") << bounded << std::int64_t(30) << true;
    QTest::newRow("constant after end") << bounded << std::int64_t(40) << false;

    const auto open = PruningSchedule::constantSparsity(0.5, 10, -1, 10);
    QTest::newRow("end -1: far step on frequency") << open << std::int64_t(1000010) << true;
    QTest::newRow("end -1: far step off frequency") << open << std::int64_t(1000011) << false;
    QTest::newRow("end -1: before begin") << open << std::int64_t(9) << false;

    const auto everyStep = PruningSchedule::constantSparsity(0.5, 1, -1, 1);
    QTest::newRow("frequency 1: step 1") << everyStep << std::int64_t(1) << true;
    QTest::newRow("frequency 1: step 7") << everyStep << std::int64_t(7) << true;

    const auto fromZero = PruningSchedule::constantSparsity(0.5, 0);
    QTest::newRow("begin 0, default frequency: step 100") << fromZero << std::int64_t(100) << true;
    QTest::newRow("begin 0, default frequency: step 1") << fromZero << std::int64_t(1) << false;
}

void TestPruningSchedule::shouldUpdateFollowsGating()
{
    QFETCH(PruningSchedule, schedule);
    QFETCH(std::int64_t, step);
    QFETCH(bool, update);
    QCOMPARE(schedule.shouldUpdate(step), update);
}

void TestPruningSchedule::parseAcceptsValidSpecs_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<int>("kind");
    QTest::addColumn<double>("initial");
    QTest::addColumn<double>("final");
    QTest::addColumn<std::int64_t>("begin");
    QTest::addColumn<std::int64_t>("end");
    QTest::addColumn<double>("power");
    QTest::addColumn<std::int64_t>("frequency");

    const int none = int(PruningSchedule::Kind::None);
    const int poly = int(PruningSchedule::Kind::PolynomialDecay);
    const int constant = int(PruningSchedule::Kind::ConstantSparsity);

    QTest::newRow("none") << QStringLiteral("none") << none << 0.0 << 0.0 << std::int64_t(0)
                          << std::int64_t(-1) << 3.0 << std::int64_t(100);
    QTest::newRow("none, upper case, spaces")
        << QStringLiteral("  NONE ") << none << 0.0 << 0.0 << std::int64_t(0) << std::int64_t(-1)
        << 3.0 << std::int64_t(100);
    QTest::newRow("polynomial defaults")
        << QStringLiteral("polynomial:0.2:0.8:100:110") << poly << 0.2 << 0.8 << std::int64_t(100)
        << std::int64_t(110) << 3.0 << std::int64_t(100);
    QTest::newRow("polynomial with power")
        << QStringLiteral("polynomial:0:0.9:0:1000:2") << poly << 0.0 << 0.9 << std::int64_t(0)
        << std::int64_t(1000) << 2.0 << std::int64_t(100);
    QTest::newRow("polynomial full")
        << QStringLiteral("polynomial:0.2:0.8:100:110:3:2") << poly << 0.2 << 0.8
        << std::int64_t(100) << std::int64_t(110) << 3.0 << std::int64_t(2);
    QTest::newRow("polynomial end == begin")
        << QStringLiteral("polynomial:0.1:0.5:10:10") << poly << 0.1 << 0.5 << std::int64_t(10)
        << std::int64_t(10) << 3.0 << std::int64_t(100);
    QTest::newRow("constant defaults")
        << QStringLiteral("constant:0.5:0") << constant << 0.5 << 0.5 << std::int64_t(0)
        << std::int64_t(-1) << 3.0 << std::int64_t(100);
    QTest::newRow("constant with end")
        << QStringLiteral("constant:0.5:10:200") << constant << 0.5 << 0.5 << std::int64_t(10)
        << std::int64_t(200) << 3.0 << std::int64_t(100);
    QTest::newRow("constant full, end -1")
        << QStringLiteral("constant:0.75:10:-1:5") << constant << 0.75 << 0.75 << std::int64_t(10)
        << std::int64_t(-1) << 3.0 << std::int64_t(5);
    QTest::newRow("constant zero sparsity")
        << QStringLiteral("constant:0:1") << constant << 0.0 << 0.0 << std::int64_t(1)
        << std::int64_t(-1) << 3.0 << std::int64_t(100);
}

void TestPruningSchedule::parseAcceptsValidSpecs()
{
    QFETCH(QString, spec);
    QFETCH(int, kind);
    QFETCH(double, initial);
    QFETCH(double, final);
    QFETCH(std::int64_t, begin);
    QFETCH(std::int64_t, end);
    QFETCH(double, power);
    QFETCH(std::int64_t, frequency);

    QString error = QStringLiteral("stale");
    const auto s = PruningSchedule::parse(spec, &error);
    QVERIFY2(s.has_value(), qPrintable(error));
    QVERIFY(error.isEmpty());
    QCOMPARE(int(s->kind()), kind);
    if (s->isNone())
        return;
    QCOMPARE(s->initial(), initial);
    QCOMPARE(s->final(), final);
    QCOMPARE(s->begin(), begin);
    QCOMPARE(s->end(), end);
    if (s->kind() == PruningSchedule::Kind::PolynomialDecay)
        QCOMPARE(s->power(), power);
    QCOMPARE(s->frequency(), frequency);
}

void TestPruningSchedule::parseRejectsInvalidSpecs_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QString>("errorPart");

    QTest::newRow("empty") << QString() << QStringLiteral("unknown pruning schedule kind");
    QTest::newRow("unknown kind") << QStringLiteral("cubic:0:0.5:0:10")
                                  << QStringLiteral("unknown pruning schedule kind 'cubic'");
    QTest::newRow("none with fields")
        << QStringLiteral("none:1") << QStringLiteral("takes no parameters");
    QTest::newRow("polynomial too few fields")
        << QStringLiteral("polynomial:0.2:0.8:100") << QStringLiteral("wrong number of fields");
    QTest::newRow("polynomial too many fields") << QStringLiteral("polynomial:0:0.5:0:10:3:1:9")
                                                << QStringLiteral("wrong number of fields");
    QTest::newRow("constant too few fields")
        << QStringLiteral("constant:0.5") << QStringLiteral("wrong number of fields");
    QTest::newRow("constant too many fields")
        << QStringLiteral("constant:0.5:0:10:1:2") << QStringLiteral("wrong number of fields");
    QTest::newRow("non-numeric sparsity") << QStringLiteral(
        "polynomial:abc:0.8:0:10") << QStringLiteral("initial sparsity 'abc' is not a number");
    QTest::newRow("nan sparsity") << QStringLiteral("constant:nan:0")
                                  << QStringLiteral("is not a number");
    QTest::newRow("non-integer step") << QStringLiteral("constant:0.5:1.5")
                                      << QStringLiteral("begin step '1.5' is not an integer");
    QTest::newRow("non-numeric frequency") << QStringLiteral("constant:0.5:0:-1:often")
                                           << QStringLiteral("frequency 'often' is not an integer");
    QTest::newRow("empty field") << QStringLiteral("polynomial:0.2::0:10")
                                 << QStringLiteral("is not a number");
    QTest::newRow("sparsity 1") << QStringLiteral("constant:1:0")
                                << QStringLiteral("sparsity must be in [0, 1)");
    QTest::newRow("negative sparsity") << QStringLiteral("polynomial:-0.1:0.5:0:10")
                                       << QStringLiteral("sparsity must be in [0, 1)");
    QTest::newRow("final sparsity 1.5") << QStringLiteral("polynomial:0.1:1.5:0:10")
                                        << QStringLiteral("sparsity must be in [0, 1)");
    QTest::newRow("final < initial") << QStringLiteral("polynomial:0.8:0.2:0:10")
                                     << QStringLiteral("must be >= initial sparsity");
    QTest::newRow("polynomial end < begin") << QStringLiteral(
        "polynomial:0.2:0.8:100:50") << QStringLiteral("end step (50) must be >= begin step");
    QTest::newRow("polynomial end -1")
        << QStringLiteral("polynomial:0.2:0.8:0:-1") << QStringLiteral("must be >= begin step");
    QTest::newRow("constant end < begin")
        << QStringLiteral("constant:0.5:100:50") << QStringLiteral("must be >= begin step");
    QTest::newRow("constant end -2")
        << QStringLiteral("constant:0.5:0:-2") << QStringLiteral("must be >= begin step");
    QTest::newRow("negative begin")
        << QStringLiteral("constant:0.5:-1") << QStringLiteral("begin step must be >= 0");
    QTest::newRow("frequency 0") << QStringLiteral("polynomial:0.2:0.8:0:10:3:0")
                                 << QStringLiteral("frequency must be >= 1");
    QTest::newRow("negative frequency")
        << QStringLiteral("constant:0.5:0:-1:-5") << QStringLiteral("frequency must be >= 1");
    QTest::newRow("power 0") << QStringLiteral("polynomial:0.2:0.8:0:10:0")
                             << QStringLiteral("power must be > 0");
    QTest::newRow("negative power")
        << QStringLiteral("polynomial:0.2:0.8:0:10:-1:1") << QStringLiteral("power must be > 0");
}

void TestPruningSchedule::parseRejectsInvalidSpecs()
{
    QFETCH(QString, spec);
    QFETCH(QString, errorPart);

    QString error;
    const auto s = PruningSchedule::parse(spec, &error);
    QVERIFY(!s.has_value());
    QVERIFY2(error.contains(errorPart), qPrintable(QStringLiteral("error was: ") + error));
    QVERIFY(!error.contains(QLatin1Char('\n')));
    QVERIFY(!PruningSchedule::parse(spec, nullptr).has_value()); // null error pointer is fine
}

void TestPruningSchedule::validateChecksConstructedSchedules()
{
    QVERIFY(PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2).validate());
    QVERIFY(PruningSchedule::constantSparsity(0.5, 0).validate());
    QString error;
    QVERIFY(!PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 0).validate(&error));
    QVERIFY2(error.contains(QStringLiteral("frequency must be >= 1")), qPrintable(error));
    QVERIFY(!PruningSchedule::constantSparsity(1.0, 0).validate(&error));
    QVERIFY2(error.contains(QStringLiteral("sparsity must be in [0, 1)")), qPrintable(error));
    // An invalid frequency never divides by zero: it just never updates.
    QVERIFY(!PruningSchedule::constantSparsity(0.5, 0, -1, 0).shouldUpdate(10));
}

void TestPruningSchedule::toSpecRoundTrips_data()
{
    QTest::addColumn<PruningSchedule>("schedule");
    QTest::newRow("none") << PruningSchedule();
    QTest::newRow("polynomial reference")
        << PruningSchedule::polynomialDecay(0.2, 0.8, 100, 110, 3, 2);
    QTest::newRow("polynomial awkward values")
        << PruningSchedule::polynomialDecay(0.1 / 3.0, 2.0 / 3.0, 7, 123456789012, 1.5, 17);
    QTest::newRow("constant open end") << PruningSchedule::constantSparsity(0.9, 2000);
    QTest::newRow("constant bounded") << PruningSchedule::constantSparsity(0.123456789, 1, 99, 3);
}

void TestPruningSchedule::toSpecRoundTrips()
{
    QFETCH(PruningSchedule, schedule);
    QString error;
    const auto parsed = PruningSchedule::parse(schedule.toSpec(), &error);
    QVERIFY2(parsed.has_value(), qPrintable(schedule.toSpec() + QStringLiteral(": ") + error));
    QCOMPARE(parsed->kind(), schedule.kind());
    QCOMPARE(parsed->toSpec(), schedule.toSpec());
    if (schedule.isNone())
        return;
    QCOMPARE(parsed->initial(), schedule.initial()); // exact: shortest round-trip text
    QCOMPARE(parsed->final(), schedule.final());
    QCOMPARE(parsed->begin(), schedule.begin());
    QCOMPARE(parsed->end(), schedule.end());
    QCOMPARE(parsed->frequency(), schedule.frequency());
    if (schedule.kind() == PruningSchedule::Kind::PolynomialDecay)
        QCOMPARE(parsed->power(), schedule.power());
}

void TestPruningSchedule::updatesWithinNamesWhyARunWouldNotPrune_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<int>("steps");
    QTest::addColumn<QString>("why"); // empty: the run prunes
    QTest::addRow("none") << QStringLiteral("none") << 17 << QString();
    // Steps count from 1: begin 0 with the default frequency 100 first updates at step 100.
    QTest::addRow("constant from 0, short run")
        << QStringLiteral("constant:0.5:0") << 17 << QStringLiteral("first update is at step 100");
    QTest::addRow("constant from 0, long run")
        << QStringLiteral("constant:0.5:0") << 100 << QString();
    QTest::addRow("constant from 1") << QStringLiteral("constant:0.5:1") << 17 << QString();
    QTest::addRow("begins after the run")
        << QStringLiteral("polynomial:0:0.5:20:30") << 17 << QStringLiteral("begins at step 20");
    QTest::addRow("no update step before end")
        << QStringLiteral("constant:0.5:0:50:100") << 500 << QStringLiteral("never be updated");
}

void TestPruningSchedule::updatesWithinNamesWhyARunWouldNotPrune()
{
    QFETCH(QString, spec);
    QFETCH(int, steps);
    QFETCH(QString, why);
    const auto schedule = PruningSchedule::parse(spec, nullptr);
    QVERIFY(schedule);
    QString message;
    QCOMPARE(schedule->updatesWithin(steps, &message), why.isEmpty());
    QVERIFY2(why.isEmpty() ? message.isEmpty() : message.contains(why), qPrintable(message));
}

QTEST_GUILESS_MAIN(TestPruningSchedule)
#include "tst_pruningschedule.moc"
