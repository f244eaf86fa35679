// DistributedRun over c10d: compiled when CMake finds c10d with Gloo (LEANTUNE_WITH_C10D), else
// distributednoc10d.cpp stands in.

#include "train/distributed_p.h"
#include "train/exceptiontext_p.h"

#include "train/evaluator.h"
#include "train/evaluator_p.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef LEANTUNE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <QDebug>
#include <QElapsedTimer>
#include <QFile>
#include <QStringList>

#include <csignal>
#include <stdexcept>
#include <unistd.h>

namespace leantune {

namespace {

QString hostName()
{
    char name[256] = {};
    return gethostname(name, sizeof(name) - 1) == 0 ? QString::fromLocal8Bit(name)
                                                    : QStringLiteral("localhost");
}

// Whether process PID on this machine has exited (gone, or a zombie not yet reaped).
bool processGone(qint64 pid)
{
    if (pid <= 0)
        return false;
    if (::kill(pid_t(pid), 0) != 0)
        return errno == ESRCH;
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return false;
    const QByteArray line = stat.readAll();
    const int close = line.lastIndexOf(')');
    return close > 0 && close + 2 < line.size()
        && (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

struct Peer {
    QString host;
    qint64 pid = 0;
};

struct Bucket {
    std::vector<torch::Tensor> params;
    std::vector<std::int64_t> offsets; // of each parameter in buffer
    torch::Tensor buffer; // flat, on the communication device
    int pending = 0; // gradients of the armed micro-batch still to come
    bool ready = false;
    c10::intrusive_ptr<c10d::Work> work;
};

} // namespace

struct DistributedRun::Private {
    DistEnv env;
    std::chrono::milliseconds timeout { 60000 };
    QString backend;
    torch::Device commDevice { torch::kCPU }; // where collectives' tensors live
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
    std::vector<Peer> peers;
    std::vector<Bucket> buckets;
    std::size_t nextLaunch = 0;
    bool armed = false;
    std::int64_t localImages = 0;
    double waitMs = 0.0;
    std::int64_t steps = 0;
    std::atomic_bool *stop = nullptr;
    bool stopAgreed = false;
    // exchangeFigures(): this rank's noted figures (images/s, host RSS, device allocated), its
    // shard's images since the note, and every rank's as the last step gathered them.
    double figures[3] = { 0.0, 0.0, -1.0 };
    std::int64_t imagesSinceNote = 0;
    QElapsedTimer noteClock;
    std::vector<MetricsSample::RankFigures> gathered;

    // The rank(s) most likely lost when a collective fails: the other one of two; else those whose
    // process on this machine is gone.
    QString lostRanks() const
    {
        QStringList lost;
        for (int r = 0; r < int(peers.size()); ++r) {
            if (r == env.rank)
                continue;
            const Peer &p = peers[std::size_t(r)];
            if (env.worldSize == 2 || (p.host == hostName() && processGone(p.pid)))
                lost << QStringLiteral("rank %1 (pid %2 on %3)").arg(r).arg(p.pid).arg(p.host);
        }
        return lost.isEmpty() ? QStringLiteral("another rank") : lost.join(QStringLiteral(", "));
    }

    [[noreturn]] void fail(const std::exception &e, const QString &what) const
    {
        const QString reason = firstLine(e.what());
        throw std::runtime_error(
            QStringLiteral("data parallel: rank %1 lost %2 during %3 (%4); the run stops, its last "
                           "checkpoint stays valid (continue with --resume)")
                .arg(env.rank)
                .arg(lostRanks(), what, reason)
                .toStdString());
    }

    void wait(const c10::intrusive_ptr<c10d::Work> &work, const QString &what) const
    {
        try {
            work->wait();
        } catch (const std::exception &e) {
            fail(e, what);
        }
    }

    c10::intrusive_ptr<c10d::Work> run(const QString &what,
        const std::function<c10::intrusive_ptr<c10d::Work>()> &collective) const
    {
        try {
            return collective();
        } catch (const std::exception &e) {
            fail(e, what);
        }
    }

    void allreduce(torch::Tensor &t, c10d::ReduceOp op, const QString &what) const
    {
        std::vector<torch::Tensor> ts { t };
        c10d::AllreduceOptions o;
        o.reduceOp = op;
        wait(run(what, [&] { return pg->allreduce(ts, o); }), what);
    }

    void broadcast(torch::Tensor &t, const QString &what) const
    {
        std::vector<torch::Tensor> ts { t };
        wait(run(what, [&] { return pg->broadcast(ts); }), what);
    }

    // Broadcasts TENSORS of rank 0 through one flat buffer.
    void broadcastTensors(const std::vector<torch::Tensor> &tensors, const QString &what) const
    {
        if (tensors.empty())
            return;
        torch::NoGradGuard noGrad;
        std::vector<torch::Tensor> flat;
        flat.reserve(tensors.size());
        for (const torch::Tensor &t : tensors)
            flat.push_back(t.reshape({ -1 }).to(commDevice, torch::kFloat64));
        torch::Tensor all = torch::cat(flat);
        broadcast(all, what);
        std::int64_t offset = 0;
        for (const torch::Tensor &t : tensors) {
            const std::int64_t n = t.numel();
            t.copy_(all.narrow(0, offset, n).view(t.sizes())); // a Tensor shares its storage
            offset += n;
        }
    }

    void launchReady()
    {
        while (nextLaunch < buckets.size() && buckets[nextLaunch].ready) {
            Bucket &b = buckets[nextLaunch++];
            std::vector<torch::Tensor> ts { b.buffer };
            b.work
                = run(QStringLiteral("the gradient allreduce"), [&] { return pg->allreduce(ts); });
        }
    }

    void onGradient(std::size_t bucket, std::size_t slot, const torch::Tensor &grad)
    {
        Bucket &b = buckets[bucket];
        const torch::Tensor &p = b.params[slot];
        b.buffer.narrow(0, b.offsets[slot], p.numel())
            .view(p.sizes())
            .add_(grad.to(commDevice), double(localImages));
        if (armed && --b.pending == 0) {
            b.ready = true;
            launchReady();
        }
    }
};

bool DistributedRun::available()
{
    return true;
}

std::unique_ptr<DistributedRun> DistributedRun::join(const DistEnv &env, const RunConfig &config,
    const torch::Device &device, std::atomic_bool *stop, QString *error)
{
    auto d = std::make_unique<Private>();
    d->env = env;
    d->stop = stop;
    d->timeout = std::chrono::milliseconds(std::int64_t(config.distTimeoutSec) * 1000);
    QString backend = config.distBackend;
#ifdef LEANTUNE_WITH_NCCL
    if (backend == QLatin1String("auto"))
        backend = device.is_cuda() ? QStringLiteral("nccl") : QStringLiteral("gloo");
#else
    if (backend == QLatin1String("nccl")) {
        *error = QStringLiteral(
            "--dist-backend nccl: this build's Torch has no NCCL (use gloo, or a CUDA LibTorch)");
        return nullptr;
    }
    backend = QStringLiteral("gloo");
#endif
    if (backend == QLatin1String("nccl") && !device.is_cuda()) {
        *error = QStringLiteral("--dist-backend nccl needs a CUDA device");
        return nullptr;
    }
    d->backend = backend;
    d->commDevice = backend == QLatin1String("nccl") ? device : torch::Device(torch::kCPU);
    const QString where = env.storeFile.isEmpty()
        ? QStringLiteral("MASTER_ADDR:MASTER_PORT = %1:%2").arg(env.masterAddr).arg(env.masterPort)
        : QStringLiteral("the store file %1").arg(env.storeFile);
    // A rank that dies closes its sockets: writing to them must fail the next collective with an
    // error naming the rank, not end this process by SIGPIPE (Python ignores SIGPIPE at start-up,
    // so PyTorch's own launches never meet it).
    std::signal(SIGPIPE, SIG_IGN);
    try {
        c10::intrusive_ptr<c10d::Store> base;
        if (!env.storeFile.isEmpty()) { // local ranks: nothing listens beyond loopback
            base = c10::make_intrusive<c10d::FileStore>(env.storeFile.toStdString(), env.worldSize);
            base->setTimeout(d->timeout);
        } else {
            c10d::TCPStoreOptions so;
            so.port = std::uint16_t(env.masterPort);
            so.isServer = env.rank == 0;
            so.numWorkers = std::size_t(env.worldSize);
            so.waitWorkers = false;
            so.timeout = d->timeout;
            base = c10::make_intrusive<c10d::TCPStore>(env.masterAddr.toStdString(), so);
        }
        d->store = c10::make_intrusive<c10d::PrefixStore>("leantune", base);
        auto pgStore = c10::make_intrusive<c10d::PrefixStore>("pg", base);
        if (backend == QLatin1String("nccl")) {
#ifdef LEANTUNE_WITH_NCCL
            if (!qEnvironmentVariableIsSet("NCCL_ASYNC_ERROR_HANDLING"))
                qputenv("NCCL_ASYNC_ERROR_HANDLING", "1"); // a timeout aborts instead of hanging
            auto o = c10d::ProcessGroupNCCL::Options::create();
            o->timeout = d->timeout;
            d->pg
                = c10::make_intrusive<c10d::ProcessGroupNCCL>(pgStore, env.rank, env.worldSize, o);
#endif
        } else {
            auto o = c10d::ProcessGroupGloo::Options::create(d->timeout);
            const QByteArray ifname = qgetenv("GLOO_SOCKET_IFNAME");
            const bool loopback = env.masterAddr == QLatin1String("127.0.0.1")
                || env.masterAddr == QLatin1String("localhost");
            o->devices.push_back(!ifname.isEmpty()
                    ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname.toStdString())
                    : loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                               : c10d::ProcessGroupGloo::createDefaultDevice());
            o->threads = 2;
            d->pg
                = c10::make_intrusive<c10d::ProcessGroupGloo>(pgStore, env.rank, env.worldSize, o);
        }
        // Who is who, to name a lost rank.
        const std::string mine
            = QStringLiteral("%1\t%2").arg(hostName()).arg(qint64(::getpid())).toStdString();
        d->store->set("peer/" + std::to_string(env.rank),
            std::vector<std::uint8_t>(mine.begin(), mine.end()));
        for (int r = 0; r < env.worldSize; ++r) {
            const std::vector<std::uint8_t> v = d->store->get("peer/" + std::to_string(r));
            const QStringList parts
                = QString::fromUtf8(reinterpret_cast<const char *>(v.data()), qsizetype(v.size()))
                      .split(QLatin1Char('\t'));
            d->peers.push_back({ parts.value(0), parts.value(1).toLongLong() });
        }
    } catch (const std::exception &e) {
        *error = QStringLiteral(
            "data parallel: rank %1 of %2 cannot join the process group at %3 within %4 s (%5)")
                     .arg(env.rank)
                     .arg(env.worldSize)
                     .arg(where)
                     .arg(config.distTimeoutSec)
                     .arg(firstLine(e.what()));
        return nullptr;
    }
    return std::unique_ptr<DistributedRun>(new DistributedRun(std::move(d)));
}

DistributedRun::DistributedRun(std::unique_ptr<Private> p)
    : d(std::move(p))
{
}

// Rank 0 says what the gradient averaging cost (stderr; bench/data-parallel.sh reads it).
DistributedRun::~DistributedRun()
{
    if (!isWriter() || d->steps == 0)
        return;
    std::int64_t floats = 0;
    for (const Bucket &b : d->buckets)
        floats += b.buffer.numel();
    qInfo().noquote() << QStringLiteral(
        "data parallel: %1 ranks over %2, %3 steps, %4 buckets of %5 KiB in all; waited %6 ms "
        "per step for the allreduce after the backward pass")
                             .arg(worldSize())
                             .arg(d->backend)
                             .arg(d->steps)
                             .arg(d->buckets.size())
                             .arg(floats * 4 / 1024)
                             .arg(d->waitMs / double(d->steps), 0, 'f', 3);
}

int DistributedRun::rank() const
{
    return d->env.rank;
}

int DistributedRun::worldSize() const
{
    return d->env.worldSize;
}

QString DistributedRun::backendName() const
{
    return d->backend;
}

void DistributedRun::broadcastModel(ClassifierImpl &model)
{
    std::vector<torch::Tensor> all = model.parameters();
    for (const torch::Tensor &b : model.buffers())
        all.push_back(b);
    d->broadcastTensors(all, QStringLiteral("the start-up broadcast of rank 0's weights"));
}

void DistributedRun::broadcastBuffers(ClassifierImpl &model)
{
    std::vector<torch::Tensor> buffers;
    for (const torch::Tensor &b : model.buffers())
        if (b.is_floating_point())
            buffers.push_back(b);
    d->broadcastTensors(buffers, QStringLiteral("the broadcast of rank 0's BatchNorm statistics"));
}

QByteArray DistributedRun::broadcastBytes(const QByteArray &bytes)
{
    const QString what = QStringLiteral("the broadcast of rank 0's checkpoint");
    torch::Tensor size = torch::full({ 1 }, double(bytes.size()),
        torch::TensorOptions().dtype(torch::kFloat64).device(d->commDevice));
    d->broadcast(size, what);
    const auto n = std::int64_t(size.item<double>());
    torch::Tensor data = isWriter()
        ? torch::from_blob(const_cast<char *>(bytes.constData()), { n }, torch::kUInt8)
              .to(d->commDevice, /*non_blocking=*/false, /*copy=*/true)
        : torch::empty({ n }, torch::TensorOptions().dtype(torch::kUInt8).device(d->commDevice));
    if (n > 0)
        d->broadcast(data, what);
    data = data.cpu().contiguous();
    return QByteArray(reinterpret_cast<const char *>(data.data_ptr<std::uint8_t>()), qsizetype(n));
}

void DistributedRun::attach(ClassifierImpl &model)
{
    d->noteClock.start(); // exchangeFigures(): the first interval's images/s
    std::vector<torch::Tensor> params;
    for (const torch::Tensor &p : model.parameters())
        if (p.requires_grad())
            params.push_back(p);
    std::reverse(params.begin(), params.end()); // backward produces the last layers' first
    for (const torch::Tensor &p : params) {
        const std::int64_t bytes = p.numel() * 4;
        if (d->buckets.empty()
            || (d->buckets.back().offsets.back() + d->buckets.back().params.back().numel()) * 4
                    + bytes
                > kBucketBytes)
            d->buckets.emplace_back();
        Bucket &b = d->buckets.back();
        const std::int64_t offset
            = b.params.empty() ? 0 : b.offsets.back() + b.params.back().numel();
        b.params.push_back(p);
        b.offsets.push_back(offset);
    }
    for (std::size_t i = 0; i < d->buckets.size(); ++i) {
        Bucket &b = d->buckets[i];
        b.buffer = torch::zeros({ b.offsets.back() + b.params.back().numel() },
            torch::TensorOptions().dtype(torch::kFloat32).device(d->commDevice));
        for (std::size_t slot = 0; slot < b.params.size(); ++slot) {
            Private *p = d.get();
            b.params[slot].register_hook(
                [p, i, slot](torch::Tensor grad) { p->onGradient(i, slot, grad); });
        }
    }
}

void DistributedRun::beginStep(std::int64_t localImages)
{
    d->localImages = localImages;
    d->armed = false;
    d->nextLaunch = 0;
    for (Bucket &b : d->buckets) {
        b.buffer.zero_();
        b.ready = false;
        b.work.reset();
    }
}

void DistributedRun::armLastMicroBatch()
{
    d->armed = true;
    for (Bucket &b : d->buckets)
        b.pending = int(b.params.size());
}

DistributedRun::StepSums DistributedRun::finishStep(
    const torch::Tensor &lossSum, const torch::Tensor &correct, std::int64_t localImages)
{
    std::atomic_bool *stop = d->stop;
    torch::NoGradGuard noGrad;
    // Buckets with a parameter that got no gradient this step go now, still in bucket order.
    for (std::size_t i = d->nextLaunch; i < d->buckets.size(); ++i)
        d->buckets[i].ready = true;
    d->launchReady();
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(d->commDevice);
    std::vector<double> slots(std::size_t(3 * worldSize()), 0.0); // each rank fills its own
    std::copy(
        std::begin(d->figures), std::end(d->figures), slots.begin() + 3 * std::ptrdiff_t(rank()));
    torch::Tensor stats
        = torch::cat({ torch::stack({ torch::full({}, double(localImages), f64),
                           lossSum.to(d->commDevice, torch::kFloat64).reshape({}),
                           correct.to(d->commDevice, torch::kFloat64).reshape({}),
                           torch::full({}, stop && stop->load() ? 1.0 : 0.0, f64) }),
            torch::tensor(slots, torch::kFloat64).to(d->commDevice) });
    d->imagesSinceNote += localImages;
    QElapsedTimer waited;
    waited.start();
    const QString what = QStringLiteral("the gradient allreduce");
    for (const Bucket &b : d->buckets)
        d->wait(b.work, what);
    d->allreduce(stats, c10d::ReduceOp::SUM, what);
    d->waitMs += double(waited.nsecsElapsed()) / 1e6;
    ++d->steps;
    const torch::Tensor host = stats.cpu();
    const double images = host[0].item<double>();
    for (Bucket &b : d->buckets) {
        b.buffer.div_(images);
        for (std::size_t slot = 0; slot < b.params.size(); ++slot) {
            torch::Tensor &p = b.params[slot];
            if (!p.requires_grad())
                continue; // frozen (--freeze-epochs): no gradient, so no step, decay or momentum
            const torch::Tensor mean
                = b.buffer.narrow(0, b.offsets[slot], p.numel()).view(p.sizes());
            if (p.grad().defined())
                p.mutable_grad().copy_(mean);
            else
                p.mutable_grad() = mean.to(p.device(), /*non_blocking=*/false, /*copy=*/true);
        }
    }
    const double *all = host.data_ptr<double>() + 4;
    d->gathered.resize(std::size_t(worldSize()));
    for (std::size_t r = 0; r < d->gathered.size(); ++r)
        d->gathered[r] = { all[3 * r], std::int64_t(all[3 * r + 1]), std::int64_t(all[3 * r + 2]) };
    if (host[3].item<double>() > 0.0) {
        d->stopAgreed = true;
        if (stop)
            stop->store(true);
    }
    StepSums sums;
    sums.loss = stats[1];
    sums.correct = stats[2].round().to(torch::kInt64);
    sums.images = std::int64_t(images);
    return sums;
}

void DistributedRun::checkMasks(const std::vector<torch::Tensor> &masks, std::int64_t step)
{
    torch::NoGradGuard noGrad;
    double checksum = 0.0;
    for (std::size_t i = 0; i < masks.size(); ++i) {
        const torch::Tensor m = masks[i].reshape({ -1 }).to(torch::kCPU, torch::kFloat64).ne(0);
        const torch::Tensor position = torch::arange(1, m.numel() + 1, torch::kFloat64);
        checksum += double(i + 1) * (m.to(torch::kFloat64) * position).sum().item<double>();
    }
    torch::Tensor both = torch::tensor({ checksum, -checksum }, torch::kFloat64).to(d->commDevice);
    d->allreduce(both, c10d::ReduceOp::MAX, QStringLiteral("the pruning-mask check"));
    const torch::Tensor host = both.cpu();
    const double highest = host[0].item<double>(), lowest = -host[1].item<double>();
    if (highest != lowest)
        throw std::runtime_error(
            QStringLiteral("data parallel: the pruning masks differ between ranks at step %1 "
                           "(checksums from %2 to %3; this rank: %4); the replicas diverged")
                .arg(step)
                .arg(lowest, 0, 'f', 0)
                .arg(highest, 0, 'f', 0)
                .arg(checksum, 0, 'f', 0)
                .toStdString());
}

void DistributedRun::reduceReport(EvaluationReport &report)
{
    const int classes = int(report.confusion.size());
    std::vector<double> values { double(report.images), double(report.skipped),
        report.loss * double(report.images) };
    for (const QVector<int> &row : report.confusion)
        for (int v : row)
            values.push_back(double(v));
    torch::Tensor t = torch::tensor(values, torch::kFloat64).to(d->commDevice);
    d->allreduce(t, c10d::ReduceOp::SUM, QStringLiteral("the evaluation sums"));
    const torch::Tensor host = t.cpu();
    const auto at = [&](std::int64_t i) { return host[i].item<double>(); };
    report.images = int(at(0));
    report.skipped = int(at(1));
    report.loss = report.images ? at(2) / report.images : 0.0;
    double correct = 0.0;
    report.perClassAccuracy.clear();
    for (int r = 0; r < classes; ++r) {
        double total = 0.0;
        for (int c = 0; c < classes; ++c) {
            report.confusion[r][c] = int(at(3 + r * classes + c));
            total += report.confusion[r][c];
        }
        correct += report.confusion[r][r];
        report.perClassAccuracy.push_back(total > 0 ? report.confusion[r][r] / total : -1.0);
    }
    report.accuracy = report.images ? correct / report.images : 0.0;
}

void DistributedRun::gatherPredictions(PassPredictions &p, std::int64_t samples)
{
    // One row per sample: present, label, loss, top-K indices, top-K probabilities[, every class's
    // probability]. Each rank fills the rows of its shard; the others stay 0, so a sum gathers.
    const int k = p.topK;
    const int probabilities = p.allProbabilities ? p.classes : 0;
    const std::int64_t width = 3 + 2 * k + probabilities;
    torch::Tensor rows = torch::zeros({ samples, width }, torch::kFloat64);
    auto r = rows.accessor<double, 2>();
    for (std::size_t i = 0; i < p.samples.size(); ++i) {
        const std::int64_t at = p.samples[i];
        if (at < 0 || at >= samples)
            continue;
        r[at][0] = 1.0;
        r[at][1] = double(p.labels[i]);
        r[at][2] = double(p.losses[i]);
        for (int j = 0; j < k; ++j) {
            r[at][3 + j] = double(p.topIndex[i * std::size_t(k) + j]);
            r[at][3 + k + j] = double(p.topProb[i * std::size_t(k) + j]);
        }
        for (int c = 0; c < probabilities; ++c)
            r[at][3 + 2 * k + c] = double(p.probabilities[i * std::size_t(probabilities) + c]);
    }
    torch::Tensor sum = rows.to(d->commDevice);
    d->allreduce(sum, c10d::ReduceOp::SUM, QStringLiteral("the per-image results"));
    rows = sum.cpu().contiguous();
    r = rows.accessor<double, 2>();
    PassPredictions all;
    all.allProbabilities = p.allProbabilities;
    all.topK = k;
    all.classes = p.classes;
    for (std::int64_t at = 0; at < samples; ++at) {
        if (r[at][0] < 0.5)
            continue;
        all.samples.push_back(at);
        all.labels.push_back(std::int64_t(r[at][1]));
        all.losses.push_back(float(r[at][2]));
        for (int j = 0; j < k; ++j) {
            all.topIndex.push_back(std::int64_t(r[at][3 + j]));
            all.topProb.push_back(float(r[at][3 + k + j]));
        }
        for (int c = 0; c < probabilities; ++c)
            all.probabilities.push_back(float(r[at][3 + 2 * k + c]));
    }
    p = std::move(all);
}

double DistributedRun::allreduceWaitMs() const
{
    return d->waitMs;
}

bool DistributedRun::stopAgreed() const
{
    return d->stopAgreed;
}

std::int64_t DistributedRun::stepsSynced() const
{
    return d->steps;
}

void DistributedRun::exchangeFigures(MetricsSample &sample)
{
    if (sample.event.isEmpty()) { // a training interval (events carry no throughput)
        const double seconds
            = d->noteClock.isValid() ? double(d->noteClock.nsecsElapsed()) / 1e9 : 0;
        d->figures[0] = seconds > 0 ? double(d->imagesSinceNote) / seconds : 0.0;
        d->figures[1] = double(sample.hostRssBytes);
        d->figures[2] = double(sample.deviceAllocatedBytes);
    }
    d->imagesSinceNote = 0; // an event (epoch end, after validation) starts a new interval too
    d->noteClock.start();
    sample.ranks = d->gathered;
    if (sample.ranks.empty())
        sample.ranks.resize(std::size_t(worldSize())); // the others: not heard from yet
    sample.ranks[std::size_t(rank())]
        = { d->figures[0], std::int64_t(d->figures[1]), std::int64_t(d->figures[2]) };
    if (!sample.event.isEmpty()) // no interval of training behind it, as its own images/s
        for (MetricsSample::RankFigures &r : sample.ranks)
            r.imagesPerSec = 0.0;
}

} // namespace leantune
