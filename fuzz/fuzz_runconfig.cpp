// libFuzzer target: run configuration JSON (config.json) -> RunConfig -> validate -> JSON again.
#include "config/runconfig.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QJsonDocument doc = QJsonDocument::fromJson(
        QByteArray(reinterpret_cast<const char *>(data), qsizetype(size)));
    if (!doc.isObject())
        return 0;
    QString error;
    if (const std::optional<leantune::RunConfig> c
        = leantune::RunConfig::fromJson(doc.object(), &error)) {
        c->validate(nullptr);
        const std::optional<leantune::RunConfig> again
            = leantune::RunConfig::fromJson(c->toJson(), &error);
        if (!again || again->toJson() != c->toJson())
            __builtin_trap(); // a config must survive its own JSON round trip
    }
    return 0;
}
