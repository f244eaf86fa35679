#pragma once

#include "config/runconfig.h"

#include <QStringList>
#include <QWidget>

class QComboBox;
class QLabel;
class QSpinBox;

namespace leantune {

class RunFieldBinder;

// The run dialog's device choice, bound to two fields of the run (`device` and `nproc`): auto, the
// CPU, "CPU, N processes" (data parallel on the CPU: device cpu, nproc N, with a spin box for N),
// each CUDA device, and "all GPUs (N)" (device cuda:all: one process per GPU) when there are
// CUDA devices. A configuration the list has no entry for (auto or cuda:1 with nproc 3) shows the
// process count beside its device, so every pair round-trips. GUI thread only.
class DeviceField : public QWidget {
    Q_OBJECT
public:
    explicit DeviceField(QWidget *parent = nullptr);

    // Binds the device list to `device` and the process count to `nproc`.
    void bindTo(RunFieldBinder &binder);
    // The entries for these CUDA devices' names; empty: the devices found (cudaDeviceCount()).
    void setCudaDevices(const QStringList &names);
    bool hasCuda() const { return m_cudaCount > 0; }

    QComboBox *deviceBox() const { return m_device; }
    QSpinBox *processBox() const { return m_processes; }
    // Chooses "CPU, N processes" (N >= 2), as a user does.
    void chooseCpuProcesses(int processes);
    // What stops CONFIG from starting as a data-parallel run (the batch size must split evenly
    // among the processes); empty when nothing does.
    static QString problem(const RunConfig &config);

private:
    void onDeviceChosen();
    void onProcessesChanged();
    void updateLabels();
    int cpuProcessesIndex() const;

    QComboBox *m_device;
    QSpinBox *m_processes;
    QLabel *m_processesLabel;
    int m_cudaCount = 0;
};

} // namespace leantune
