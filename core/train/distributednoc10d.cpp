// DistributedRun in a build without c10d (Gloo): join() says what is missing, and nothing else is
// reached. core/train/CMakeLists.txt compiles this file or distributed.cpp, never both.

#include "train/distributed_p.h"

namespace leantune {

struct DistributedRun::Private { };

bool DistributedRun::available()
{
    return false;
}

std::unique_ptr<DistributedRun> DistributedRun::join(
    const DistEnv &, const RunConfig &, const torch::Device &, std::atomic_bool *, QString *error)
{
    *error = QStringLiteral(
        "data parallel training needs PyTorch's c10d with Gloo, which this build does not have "
        "(install libgloo-dev and reconfigure: LEANTUNE_WITH_C10D)");
    return nullptr;
}

DistributedRun::DistributedRun(std::unique_ptr<Private> p)
    : d(std::move(p))
{
}
DistributedRun::~DistributedRun() = default;
int DistributedRun::rank() const
{
    return 0;
}
int DistributedRun::worldSize() const
{
    return 1;
}
QString DistributedRun::backendName() const
{
    return {};
}
void DistributedRun::broadcastModel(ClassifierImpl &) { }
void DistributedRun::broadcastBuffers(ClassifierImpl &) { }
QByteArray DistributedRun::broadcastBytes(const QByteArray &bytes)
{
    return bytes;
}
void DistributedRun::attach(ClassifierImpl &) { }
void DistributedRun::beginStep(std::int64_t) { }
void DistributedRun::armLastMicroBatch() { }
DistributedRun::StepSums DistributedRun::finishStep(
    const torch::Tensor &lossSum, const torch::Tensor &correct, std::int64_t n)
{
    return { lossSum, correct, n };
}
bool DistributedRun::stopAgreed() const
{
    return false;
}
void DistributedRun::checkMasks(const std::vector<torch::Tensor> &, std::int64_t) { }
void DistributedRun::reduceReport(EvaluationReport &) { }
void DistributedRun::gatherPredictions(PassPredictions &, std::int64_t) { }
double DistributedRun::allreduceWaitMs() const
{
    return 0.0;
}
std::int64_t DistributedRun::stepsSynced() const
{
    return 0;
}
void DistributedRun::exchangeFigures(MetricsSample &) { }

} // namespace leantune
