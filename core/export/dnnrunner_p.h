#pragma once
// Private header (includes torch and OpenCV): runs an ONNX file in OpenCV DNN, the independent
// runtime every export is checked with.

#include <opencv2/dnn.hpp>
#include <torch/torch.h>

#include <QByteArray>
#include <QString>

#include <functional>
#include <optional>

namespace leantune {

// An ONNX model loaded with cv::dnn::readNetFromONNX on the default (CPU) backend.
// Not thread-safe: one thread runs it.
class DnnRunner {
public:
    // Loads the ONNX bytes (as written to a file). std::nullopt + *error when OpenCV rejects them.
    static std::optional<DnnRunner> load(const QByteArray &onnx, QString *error);
    static std::optional<DnnRunner> loadFile(const QString &path, QString *error);

    // X01 float32 [N, C, H, W] → logits [N, classes] (CPU float32). Throws cv::Exception.
    torch::Tensor run(const torch::Tensor &x01);

private:
    explicit DnnRunner(const cv::dnn::Net &net)
        : m_net(net)
    {
    } // cv::dnn::Net is a shared handle
    static std::optional<DnnRunner> loadWith(
        const std::function<cv::dnn::Net()> &read, QString *error);

    cv::dnn::Net m_net;
};

} // namespace leantune
