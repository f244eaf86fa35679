#pragma once
// Private header of the training library (Qt only).

#include <QString>

namespace leantune {

// Defined in model/torchscriptmodel.cpp (declared here so that this header stays torch-free).
QString torchScriptFailureReason(const char *what);

// The first line of an exception's message, for a log line or an error shown to users: LibTorch's
// what() goes on with a C++ backtrace, and a TorchScript interpreter failure ("The following
// operation failed in the TorchScript interpreter.") gives the error the script raised, quoted.
inline QString firstLine(const char *what)
{
    return torchScriptFailureReason(what);
}

} // namespace leantune
