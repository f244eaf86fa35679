#pragma once
// Private header of the training library (Qt only).

#include <QString>

namespace leantune {

// The first line of an exception's message, for a log line or an error shown to users: LibTorch's
// what() goes on with a C++ backtrace.
inline QString firstLine(const char *what)
{
    return QString::fromUtf8(what).section(QLatin1Char('\n'), 0, 0).trimmed();
}

} // namespace leantune
