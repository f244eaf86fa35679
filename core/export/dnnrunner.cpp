#include "export/dnnrunner_p.h"

#include <vector>

namespace leantune {

std::optional<DnnRunner> DnnRunner::loadWith(
    const std::function<cv::dnn::Net()> &read, QString *error)
{
    try {
        cv::dnn::Net net = read();
        if (net.empty()) {
            if (error)
                *error = QStringLiteral("OpenCV DNN read an empty network");
            return std::nullopt;
        }
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        return DnnRunner(net);
    } catch (const cv::Exception &e) {
        if (error)
            *error = QStringLiteral("OpenCV DNN cannot load the ONNX model: %1")
                         .arg(QString::fromStdString(e.msg).trimmed());
        return std::nullopt;
    }
}

std::optional<DnnRunner> DnnRunner::load(const QByteArray &onnx, QString *error)
{
    return loadWith(
        [&onnx] { return cv::dnn::readNetFromONNX(onnx.constData(), std::size_t(onnx.size())); },
        error);
}

std::optional<DnnRunner> DnnRunner::loadFile(const QString &path, QString *error)
{
    return loadWith([&path] { return cv::dnn::readNetFromONNX(path.toStdString()); }, error);
}

torch::Tensor DnnRunner::run(const torch::Tensor &x01)
{
    const torch::Tensor x = x01.to(torch::kCPU, torch::kFloat32).contiguous();
    std::vector<int> sizes;
    for (std::int64_t d : x.sizes())
        sizes.push_back(int(d));
    const cv::Mat blob(int(sizes.size()), sizes.data(), CV_32F, x.data_ptr<float>());
    m_net.setInput(blob);
    const cv::Mat out = m_net.forward();
    const cv::Mat flat = out.reshape(1, int(x.size(0)));
    return torch::from_blob(
        const_cast<float *>(flat.ptr<float>()), { flat.rows, flat.cols }, torch::kFloat32)
        .clone();
}

} // namespace leantune
