// libFuzzer target: pruning schedule specs -> parse -> evaluate -> toSpec round trip.
#include "prune/pruningschedule.h"

#include <cmath>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QString spec = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    QString error;
    const std::optional<leantune::PruningSchedule> s
        = leantune::PruningSchedule::parse(spec, &error);
    if (!s)
        return 0;
    for (std::int64_t step : { std::int64_t(0), std::int64_t(1), s->begin(), s->end(), s->end() + 1,
             std::int64_t(1) << 40 }) {
        const double v = s->sparsityAt(step);
        s->shouldUpdate(step);
        if (!(v >= 0.0 && v < 1.0))
            __builtin_trap(); // a valid schedule never asks for sparsity outside [0, 1)
    }
    const std::optional<leantune::PruningSchedule> again
        = leantune::PruningSchedule::parse(s->toSpec(), &error);
    if (!again || again->toSpec() != s->toSpec())
        __builtin_trap();
    return 0;
}
