// GradScaler: fp16 dynamic loss scaling with PyTorch's GradScaler semantics.

#include "train/gradscaler_p.h"

#include <QTest>

#include <limits>

using namespace leantune;

namespace {

// One parameter w (init 1) under SGD with lr 1: w moves by minus its (unscaled) gradient.
struct OneParameter {
    torch::Tensor w = torch::ones({ 2 }, torch::requires_grad());
    torch::optim::SGD sgd { std::vector<torch::Tensor> { w }, torch::optim::SGDOptions(1.0) };

    void backward(GradScaler &scaler, double gradValue)
    {
        sgd.zero_grad();
        const torch::Tensor loss = (w * gradValue).sum();
        scaler.scale(loss).backward();
    }
};

} // namespace

class TestGradScaler : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void scalesTheLossAndUnscalesTheGradientsBeforeTheStep()
    {
        GradScaler scaler;
        OneParameter p;
        QCOMPARE(scaler.scale(torch::ones({ 1 })).item<double>(), 65536.0);
        p.backward(scaler, 0.25);
        QCOMPARE(p.w.grad()[0].item<double>(), 0.25 * 65536.0);
        QVERIFY(scaler.step(p.sgd));
        scaler.update();
        QCOMPARE(p.w.grad()[0].item<double>(), 0.25); // unscaled in place
        QCOMPARE(p.w[0].item<double>(), 0.75); // stepped with the true gradient
        QCOMPARE(scaler.currentScale(), 65536.0);
        QVERIFY(!scaler.lastStepSkipped());
    }

    void skipsTheStepAndBacksOffOnInfOrNan_data()
    {
        QTest::addColumn<double>("grad");
        QTest::newRow("inf") << std::numeric_limits<double>::infinity();
        QTest::newRow("nan") << std::numeric_limits<double>::quiet_NaN();
    }

    void skipsTheStepAndBacksOffOnInfOrNan()
    {
        QFETCH(double, grad);
        GradScaler scaler;
        OneParameter p;
        p.backward(scaler, grad);
        QVERIFY(!scaler.step(p.sgd));
        QVERIFY(scaler.lastStepSkipped());
        scaler.update();
        QCOMPARE(p.w[0].item<double>(), 1.0); // untouched
        QCOMPARE(scaler.currentScale(), 32768.0);
        QCOMPARE(scaler.skippedSteps(), qint64(1));
    }

    void growsAfterTheIntervalOfCleanSteps()
    {
        GradScaler::Options o;
        o.initScale = 8.0;
        o.growthInterval = 3;
        GradScaler scaler(o);
        OneParameter p;
        for (int i = 0; i < 3; ++i) {
            p.backward(scaler, 0.001);
            QVERIFY(scaler.step(p.sgd));
            scaler.update();
        }
        QCOMPARE(scaler.currentScale(), 16.0);
        // An overflow resets the count of clean steps.
        p.backward(scaler, std::numeric_limits<double>::infinity());
        scaler.step(p.sgd);
        scaler.update();
        QCOMPARE(scaler.currentScale(), 8.0);
        for (int i = 0; i < 2; ++i) {
            p.backward(scaler, 0.001);
            scaler.step(p.sgd);
            scaler.update();
        }
        QCOMPARE(scaler.currentScale(), 8.0);
    }
};

QTEST_GUILESS_MAIN(TestGradScaler)
#include "tst_gradscaler.moc"
