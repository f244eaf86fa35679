#include "train/checkpoint_p.h"

#include "model/torcharchive_p.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QSaveFile>
#include <QStringBuilder>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace leantune {

namespace {

// An archive refused by loadLibTorchArchive (its message says why).
struct ArchiveRefused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr char kMagic[16]
    = { 'L', 'E', 'A', 'N', 'T', 'U', 'N', 'E', '-', 'F', 'I', 'L', 'E', '0', '1', '\n' };
constexpr int kHeaderSize = 16 + 8 + 32; // magic, payload size (little endian), SHA-256

// The archive's bytes, written straight into the QByteArray returned: through an ostringstream
// they were held three times at once (the stream's buffer, str()'s copy and the QByteArray's),
// which for resnet18 (model, momentum and masks, ~135 MB) put the checkpoint write above the
// training steps' peak at small batch sizes.
QByteArray archiveBytes(torch::serialize::OutputArchive &archive)
{
    QByteArray bytes;
    archive.save_to([&bytes](const void *data, size_t size) -> size_t {
        bytes.append(static_cast<const char *>(data), qsizetype(size));
        return size;
    });
    return bytes;
}

// Every archive LeanTune reads goes through here: as data, never through torch::jit::load of the
// file's own bytes, which would run the file's TorchScript (its __setstate__ methods).
void loadArchive(torch::serialize::InputArchive &archive, QByteArray bytes)
{
    QString error;
    if (!loadLibTorchArchive(std::move(bytes), archive, &error))
        throw ArchiveRefused(error.toStdString());
}

torch::Tensor scalar(std::int64_t v)
{
    return torch::tensor(v, torch::kInt64);
}
torch::Tensor scalarD(double v)
{
    return torch::tensor(v, torch::kFloat64);
}

} // namespace

bool writeCheckedFile(const QString &path, const QByteArray &payload, QString *error)
{
    QByteArray header(kMagic, 16);
    quint64 size = quint64(payload.size());
    char sizeBytes[8];
    for (int i = 0; i < 8; ++i)
        sizeBytes[i] = char((size >> (8 * i)) & 0xff);
    header.append(sizeBytes, 8);
    header.append(QCryptographicHash::hash(payload, QCryptographicHash::Sha256));

    QSaveFile file(path);
    // QSaveFile reports a failed flush as "Unknown error"; the system's errno says what happened
    // (e.g. "No space left on device").
    const auto fail = [&](int err) {
        if (error) {
            QString why = file.errorString();
            if (err != 0 && (why.isEmpty() || why == QLatin1String("Unknown error")))
                why = QString::fromLocal8Bit(std::strerror(err));
            *error = QStringLiteral("cannot write %1: %2").arg(path, why);
        }
        return false;
    };
    errno = 0;
    if (!file.open(QIODevice::WriteOnly))
        return fail(errno);
    if (file.write(header) != header.size() || file.write(payload) != payload.size()) {
        fail(errno); // before cancelWriting(), which replaces the error text
        file.cancelWriting();
        return false;
    }
    if (!file.commit())
        return fail(errno);
    return true;
}

std::optional<QByteArray> readCheckedFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    const QByteArray all = file.readAll();
    if (all.size() < kHeaderSize || std::memcmp(all.constData(), kMagic, 16) != 0) {
        if (error)
            *error = QStringLiteral("%1 is not a LeanTune file or is truncated").arg(path);
        return std::nullopt;
    }
    quint64 size = 0;
    for (int i = 0; i < 8; ++i)
        size |= quint64(quint8(all[16 + i])) << (8 * i);
    if (size != quint64(all.size() - kHeaderSize)) {
        if (error)
            *error = QStringLiteral("%1 is truncated (%2 of %3 bytes)")
                         .arg(path)
                         .arg(all.size() - kHeaderSize)
                         .arg(size);
        return std::nullopt;
    }
    QByteArray payload = all.mid(kHeaderSize);
    if (QCryptographicHash::hash(payload, QCryptographicHash::Sha256) != all.mid(24, 32)) {
        if (error)
            *error = QStringLiteral("%1 is corrupted (checksum mismatch)").arg(path);
        return std::nullopt;
    }
    return payload;
}

QByteArray serializeModule(const torch::nn::Module &module, const QByteArray &description)
{
    torch::serialize::OutputArchive archive;
    module.save(archive);
    if (!description.isEmpty())
        archive.write(kDescriptionKey, c10::IValue(description.toStdString()));
    return archiveBytes(archive);
}

bool readArchive(QByteArray bytes, torch::serialize::InputArchive &archive, QString *error)
{
    return loadLibTorchArchive(std::move(bytes), archive, error);
}

QByteArray archiveDescription(torch::serialize::InputArchive &archive)
{
    try {
        c10::IValue value;
        if (!archive.try_read(kDescriptionKey, value) || !value.isString())
            return {};
        return QByteArray::fromStdString(value.toStringRef());
    } catch (const std::exception &) {
        return {};
    }
}

QByteArray archiveDescription(const QByteArray &bytes)
{
    torch::serialize::InputArchive archive;
    if (!readArchive(bytes, archive, nullptr))
        return {};
    return archiveDescription(archive);
}

bool loadModule(torch::nn::Module &module, torch::serialize::InputArchive &archive, QString *error)
{
    try {
        module.load(archive);
        return true;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("the saved model does not match this architecture: %1")
                         .arg(QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return false;
    }
}

bool loadModule(torch::nn::Module &module, QByteArray bytes, QString *error)
{
    torch::serialize::InputArchive archive;
    QString why;
    if (!readArchive(std::move(bytes), archive, &why)) {
        if (error)
            *error = QStringLiteral("the saved model cannot be read: %1").arg(why);
        return false;
    }
    return loadModule(module, archive, error);
}

QByteArray checkpointBytes(const torch::nn::Module &model, const torch::optim::Optimizer &optimizer,
    const std::vector<torch::Tensor> &masks, const CheckpointState &state)
{
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive modelArchive, optimArchive, maskArchive;
    model.save(modelArchive);
    optimizer.save(optimArchive);
    for (size_t i = 0; i < masks.size(); ++i)
        maskArchive.write(std::to_string(i), masks[i].to(torch::kCPU));
    archive.write("model", modelArchive);
    archive.write("optimizer", optimArchive);
    archive.write("masks", maskArchive);
    archive.write("mask_count", scalar(std::int64_t(masks.size())));
    archive.write("step", scalar(state.step));
    archive.write("epoch", scalar(state.epoch));
    archive.write("batch_in_epoch", scalar(state.batchInEpoch));
    archive.write("target_sparsity", scalarD(state.targetSparsity));
    archive.write("images", scalar(state.images));
    {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        archive.write("rng_cpu", gen.get_state());
    }
    return archiveBytes(archive);
}

bool saveCheckpoint(const QString &path, const torch::nn::Module &model,
    const torch::optim::Optimizer &optimizer, const std::vector<torch::Tensor> &masks,
    const CheckpointState &state, QString *error)
{
    try {
        return writeCheckedFile(path, checkpointBytes(model, optimizer, masks, state), error);
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("cannot save checkpoint %1: %2")
                         .arg(path, QString::fromUtf8(e.what()));
        return false;
    }
}

bool loadCheckpoint(const QString &path, torch::nn::Module &model,
    torch::optim::Optimizer &optimizer, std::vector<torch::Tensor> *masks, CheckpointState *state,
    QString *error)
{
    std::optional<QByteArray> bytes = readCheckedFile(path, error);
    if (!bytes)
        return false;
    try {
        torch::serialize::InputArchive archive, modelArchive, optimArchive, maskArchive;
        loadArchive(archive, std::move(*bytes)); // freed once its tensors are read
        archive.read("model", modelArchive);
        archive.read("optimizer", optimArchive);
        archive.read("masks", maskArchive);
        model.load(modelArchive);
        optimizer.load(optimArchive);
        // InputArchive::read() into a defined tensor resizes it in place: read each value fresh.
        const auto read = [&archive](const char *key) {
            torch::Tensor t;
            archive.read(key, t);
            return t;
        };
        const std::int64_t count = read("mask_count").item<std::int64_t>();
        masks->clear();
        for (std::int64_t i = 0; i < count; ++i) {
            torch::Tensor m;
            maskArchive.read(std::to_string(i), m);
            masks->push_back(m);
        }
        state->step = read("step").item<std::int64_t>();
        state->epoch = int(read("epoch").item<std::int64_t>());
        state->batchInEpoch = read("batch_in_epoch").item<std::int64_t>();
        state->targetSparsity = read("target_sparsity").item<double>();
        state->images = read("images").item<std::int64_t>();
        const torch::Tensor rng = read("rng_cpu");
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(rng);
        return true;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("cannot load checkpoint %1: %2")
                         .arg(path, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return false;
    }
}

QString checkpointFileName(std::int64_t step)
{
    return QStringLiteral("step-%1.ckpt").arg(step, 10, 10, QLatin1Char('0'));
}

QStringList listCheckpoints(const QString &dir)
{
    QStringList names = QDir(dir).entryList(
        { QStringLiteral("step-*.ckpt") }, QDir::Files, QDir::Name | QDir::Reversed);
    for (QString &n : names)
        n = QDir(dir).filePath(n);
    return names;
}

void pruneOldCheckpoints(const QString &dir, int keep)
{
    const QStringList all = listCheckpoints(dir);
    for (int i = keep; i < all.size(); ++i)
        QFile::remove(all[i]);
}

} // namespace leantune

namespace leantune {

bool loadCheckpointModel(const QString &path, torch::nn::Module &model, QString *error)
{
    std::optional<QByteArray> bytes = readCheckedFile(path, error);
    if (!bytes)
        return false;
    try {
        torch::serialize::InputArchive archive, modelArchive;
        loadArchive(archive, std::move(*bytes)); // freed once its tensors are read
        archive.read("model", modelArchive);
        model.load(modelArchive);
        return true;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("cannot load checkpoint %1: %2")
                         .arg(path, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
        return false;
    }
}

} // namespace leantune
