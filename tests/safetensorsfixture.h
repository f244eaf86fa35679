#pragma once
// Weight files for the suites that read them: .safetensors written by hand (u64 header length,
// JSON header, raw float32 data), so that no suite depends on Python for a small valid file.

#include <QByteArray>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QString>

namespace leantune::testweights {

struct Tensor {
    QString name;
    QList<qint64> shape;
};

// LeanTune's smallcnn as a state_dict (model/modelzoo.cpp): its parameters and BatchNorm buffers.
inline QList<Tensor> smallCnn(int channels, int classes)
{
    QList<Tensor> t { { QStringLiteral("conv1.weight"), { 32, channels, 3, 3 } } };
    const auto bn = [&t](const char *name, qint64 n) {
        for (const char *part : { "weight", "bias", "running_mean", "running_var" })
            t.push_back({ QLatin1String(name) + QLatin1Char('.') + QLatin1String(part), { n } });
    };
    bn("bn1", 32);
    t.push_back({ QStringLiteral("conv2.weight"), { 64, 32, 3, 3 } });
    bn("bn2", 64);
    t.push_back({ QStringLiteral("conv3.weight"), { 16, 64, 1, 1 } });
    bn("bn3", 16);
    t.push_back({ QStringLiteral("fc1.weight"), { 96, 784 } });
    t.push_back({ QStringLiteral("fc1.bias"), { 96 } });
    t.push_back({ QStringLiteral("fc2.weight"), { classes, 96 } });
    t.push_back({ QStringLiteral("fc2.bias"), { classes } });
    return t;
}

// A float32 .safetensors file of TENSORS, every value VALUE.
inline bool writeSafetensors(const QString &path, const QList<Tensor> &tensors, float value = 0.25f)
{
    QJsonObject header;
    qint64 offset = 0;
    for (const Tensor &t : tensors) {
        qint64 n = 1;
        QJsonArray shape;
        for (qint64 d : t.shape) {
            n *= d;
            shape.append(double(d));
        }
        header.insert(t.name,
            QJsonObject { { QStringLiteral("dtype"), QStringLiteral("F32") },
                { QStringLiteral("shape"), shape },
                { QStringLiteral("data_offsets"),
                    QJsonArray { double(offset), double(offset + 4 * n) } } });
        offset += 4 * n;
    }
    const QByteArray json = QJsonDocument(header).toJson(QJsonDocument::Compact);
    QByteArray out(8, '\0');
    for (int k = 0; k < 8; ++k)
        out[k] = char((quint64(json.size()) >> (8 * k)) & 0xff);
    out += json;
    QByteArray data;
    data.reserve(offset);
    for (qint64 i = 0; i < offset / 4; ++i)
        data.append(reinterpret_cast<const char *>(&value), 4);
    out += data;
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(out) == out.size();
}

} // namespace leantune::testweights
