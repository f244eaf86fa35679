#include "widgets/dialogs/devicefield.h"

#include "widgets/dialogs/runfieldbinder.h"
#include "metrics/memoryprobe.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QThread>

namespace leantune {

namespace {
constexpr int kProcessesRole = Qt::UserRole + 1; // marks "CPU, N processes"
const QString kCpu = QStringLiteral("cpu");
} // namespace

DeviceField::DeviceField(QWidget *parent)
    : QWidget(parent)
    , m_device(new QComboBox(this))
    , m_processes(new QSpinBox(this))
    , m_processesLabel(new QLabel(tr("processes:"), this))
{
    auto *row = new QHBoxLayout(this);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(m_device, 1);
    row->addWidget(m_processesLabel);
    row->addWidget(m_processes);
    m_processes->setValue(1); // (its range is nproc's: bindTo())
    m_processes->setSpecialValueText(tr("one per core (%1)").arg(QThread::idealThreadCount()));
    m_processesLabel->setBuddy(m_processes);
    m_device->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    connect(m_device, &QComboBox::currentIndexChanged, this, &DeviceField::onDeviceChosen);
    connect(m_processes, &QSpinBox::valueChanged, this, &DeviceField::onProcessesChanged);
    setCudaDevices({});
}

void DeviceField::bindTo(RunFieldBinder &binder)
{
    binder.bind(QStringLiteral("device"), m_device); // shown first: nproc then picks the entry
    binder.bind(QStringLiteral("nproc"), m_processes);
    m_processes->setToolTip(m_processes->toolTip()
        + tr("\nOne run: the charts show the throughput of all processes together and each "
             "one's memory; Pause is not available."));
}

void DeviceField::setCudaDevices(const QStringList &names)
{
    QStringList devices = names;
    if (devices.isEmpty()) {
        const int n = cudaDeviceCount();
        for (int i = 0; i < n; ++i)
            devices << deviceDescription(QStringLiteral("cuda:%1").arg(i), 0);
    }
    m_cudaCount = int(devices.size());
    const QString current = m_device->currentData().toString();
    const bool processes = m_device->currentData(kProcessesRole).toBool();
    {
        const QSignalBlocker block(m_device);
        m_device->clear();
        m_device->addItem(devices.isEmpty() ? tr("auto (CPU: no CUDA device found)")
                                            : tr("auto (first CUDA device)"),
            QStringLiteral("auto"));
        m_device->addItem(tr("CPU, %1 cores").arg(QThread::idealThreadCount()), kCpu);
        m_device->addItem(QString(), kCpu); // "CPU, N processes" (updateLabels())
        m_device->setItemData(2, true, kProcessesRole);
        for (int i = 0; i < devices.size(); ++i)
            m_device->addItem(devices[i], QStringLiteral("cuda:%1").arg(i));
        if (!devices.isEmpty())
            m_device->addItem(tr("all GPUs (%1), one process each").arg(devices.size()),
                QStringLiteral("cuda:all"));
        if (!current.isEmpty() && m_device->findData(current) < 0)
            m_device->addItem(tr("%1 (not found)").arg(current), current);
        m_device->setCurrentIndex(
            processes ? cpuProcessesIndex() : std::max(0, m_device->findData(current)));
    }
    updateLabels();
}

int DeviceField::cpuProcessesIndex() const
{
    for (int i = 0; i < m_device->count(); ++i)
        if (m_device->itemData(i, kProcessesRole).toBool())
            return i;
    return -1;
}

void DeviceField::chooseCpuProcesses(int processes)
{
    m_device->setCurrentIndex(cpuProcessesIndex());
    m_processes->setValue(processes);
}

// A user's choice: the process count follows the entry (1 for a single device; one per GPU is
// cuda:all's own rule).
void DeviceField::onDeviceChosen()
{
    const bool processes = m_device->currentData(kProcessesRole).toBool();
    if (processes && m_processes->value() == 1)
        m_processes->setValue(2);
    else if (!processes && m_processes->value() != 1)
        m_processes->setValue(1); // (a shown run sets its count after its device)
    updateLabels();
}

// The count decides between "CPU" and "CPU, N processes" (also when the binder shows a run).
void DeviceField::onProcessesChanged()
{
    const bool processes = m_device->currentData(kProcessesRole).toBool();
    if (m_device->currentData() == kCpu && processes != (m_processes->value() != 1))
        m_device->setCurrentIndex(
            processes ? m_device->findData(kCpu) : cpuProcessesIndex()); // 1: plain CPU
    updateLabels();
}

void DeviceField::updateLabels()
{
    const int n = m_processes->value();
    const int index = cpuProcessesIndex();
    if (index >= 0)
        m_device->setItemText(index,
            m_device->currentIndex() == index && n >= 2
                ? tr("CPU, %1 processes (data parallel)").arg(n)
                : (m_device->currentIndex() == index
                        ? tr("CPU, one process per core (data parallel)")
                        : tr("CPU, N processes (data parallel)")));
    // The count shows with "CPU, N processes" and wherever a run set one the list has no entry for.
    const bool show = m_device->currentData(kProcessesRole).toBool() || n != 1;
    m_processes->setVisible(show);
    m_processesLabel->setVisible(show);
}

QString DeviceField::problem(const RunConfig &c)
{
    QString error;
    return c.checkWorldSize(c.localWorldSize(), &error) ? QString() : error;
}

} // namespace leantune
