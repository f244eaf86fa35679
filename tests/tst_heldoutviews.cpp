// The views a fold model predicts its held-out images from: the image alone for a model trained
// without augmentation, else the mean over the image, its mirror, its zoomed centre and that
// view's mirror; the features are the image's own either way.

#include "audit/heldoutviews_p.h"
#include "model/modelzoo_p.h"

#include <QtTest>

using leantune::ClassifierImpl;

namespace {

std::shared_ptr<ClassifierImpl> smallModel()
{
    torch::manual_seed(7);
    leantune::ModelSpec spec;
    spec.name = QStringLiteral("smallcnn");
    spec.channels = 1;
    spec.inputSize = 20;
    spec.classes = 4;
    auto model = leantune::createModel(spec, nullptr);
    model->eval();
    return model;
}

torch::Tensor probabilitiesOf(ClassifierImpl &model, const torch::Tensor &x)
{
    return torch::softmax(model.classify(model.features(x).flatten(1)), 1);
}

} // namespace

class TestHeldOutViews : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void zoomViewIsTheCentreCropResized()
    {
        // A 10 × 10 ramp: the 0.8 crop is rows and columns 1..8, brought back to 10 × 10.
        const torch::Tensor x = torch::arange(100, torch::kFloat32).reshape({ 1, 1, 10, 10 });
        const torch::Tensor z = leantune::zoomView(x, 0.8);
        QCOMPARE(z.sizes().vec(), x.sizes().vec());
        const torch::Tensor expected
            = torch::nn::functional::interpolate(x.slice(2, 1, 9).slice(3, 1, 9),
                torch::nn::functional::InterpolateFuncOptions()
                    .size(std::vector<std::int64_t> { 10, 10 })
                    .mode(torch::kBilinear)
                    .align_corners(false));
        QVERIFY(torch::allclose(z, expected));
        // The original's border is outside the crop: the view's corner is the crop's first pixel.
        QCOMPARE(z[0][0][0][0].item<float>(), 11.0f);
        QVERIFY(torch::allclose(leantune::zoomView(x, 1.0), x));
    }

    void probabilitiesAreTheMeanOfTheViews_data()
    {
        QTest::addColumn<bool>("augmented");
        QTest::newRow("trained without augmentation: the image alone") << false;
        QTest::newRow("trained with augmentation: four views") << true;
    }

    void probabilitiesAreTheMeanOfTheViews()
    {
        QFETCH(bool, augmented);
        torch::NoGradGuard noGrad;
        const auto model = smallModel();
        const torch::Tensor x = torch::rand({ 3, 1, 20, 20 });
        torch::Tensor features;
        const torch::Tensor p = leantune::heldOutProbabilities(*model, x, augmented, &features);
        const torch::Tensor image = probabilitiesOf(*model, x);
        const torch::Tensor zoomed = leantune::zoomView(x);
        const torch::Tensor expected = augmented
            ? (image + probabilitiesOf(*model, x.flip({ 3 })) + probabilitiesOf(*model, zoomed)
                  + probabilitiesOf(*model, zoomed.flip({ 3 })))
                / 4.0
            : image;
        QVERIFY(torch::allclose(p, expected, 1e-5, 1e-6));
        QCOMPARE(torch::allclose(p, image, 1e-5, 1e-6), !augmented);
        QVERIFY(torch::allclose(p.sum(1), torch::ones({ 3 }), 1e-5, 1e-6));
        // The features are the image's own, whatever the views.
        QVERIFY(torch::allclose(features, model->features(x).flatten(1)));
    }
};

QTEST_APPLESS_MAIN(TestHeldOutViews)
#include "tst_heldoutviews.moc"
