#pragma once
// Run configurations that several test suites start from.

#include "config/runconfig.h"

namespace leantune::testconfigs {

// smallcnn at 32 px, 1 channel, 4 classes, on the CPU with one thread: quick memory probes.
inline RunConfig smallCnnOnCpu()
{
    RunConfig c;
    c.model.name = QStringLiteral("smallcnn");
    c.model.inputSize = 32;
    c.model.channels = 1;
    c.model.classes = 4;
    c.device = QStringLiteral("cpu");
    c.threads = 1;
    return c;
}

} // namespace leantune::testconfigs
