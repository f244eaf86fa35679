#include "widgets/dialogs/prunescopefield.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QToolButton>
#include <QVBoxLayout>

namespace leantune {

namespace {
const QString kSensitivity = QStringLiteral("sensitivity");
}

PruneScopeField::PruneScopeField(QWidget *parent)
    : QWidget(parent)
    , m_choice(new QComboBox(this))
    , m_file(new QLineEdit(this))
    , m_browse(new QToolButton(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_choice);
    auto *fileRow = new QHBoxLayout;
    fileRow->addWidget(m_file, 1);
    fileRow->addWidget(m_browse);
    layout->addLayout(fileRow);
    m_file->setObjectName(QStringLiteral("sensitivityFile"));
    m_file->setPlaceholderText(tr("the starting run's sensitivity.json"));
    m_file->setToolTip(tr("The sensitivity scan the layers' targets come from (leantune-cli "
                          "sensitivity, or Prune to a budget in the run history)"));
    m_browse->setText(QStringLiteral("..."));
    m_browse->setToolTip(tr("Choose a sensitivity scan"));
    connect(m_browse, &QToolButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Sensitivity scan"),
            m_file->text().isEmpty() ? QString() : QFileInfo(m_file->text()).absolutePath(),
            tr("Sensitivity scans (*.json);;All files (*)"));
        if (!path.isEmpty())
            m_file->setText(path); // textChanged reports the change
    });
    connect(m_choice, &QComboBox::currentIndexChanged, this, [this] {
        updateFileRow();
        if (!m_setting)
            Q_EMIT changed();
    });
    connect(m_file, &QLineEdit::textChanged, this, [this] {
        if (!m_setting)
            Q_EMIT changed();
    });
    connect(m_file, &QLineEdit::editingFinished, this,
        [this] { m_file->setText(m_file->text().trimmed()); });
    updateFileRow();
}

void PruneScopeField::setValue(const QString &text)
{
    m_setting = true;
    QString choice = text.trimmed(), file;
    if (choice.startsWith(kSensitivity + QLatin1Char(':'))) {
        file = choice.mid(kSensitivity.size() + 1);
        choice = kSensitivity;
    }
    if (m_choice->findData(choice) < 0) // a value without an item gets one
        m_choice->addItem(choice, choice);
    m_choice->setCurrentIndex(m_choice->findData(choice));
    m_file->setText(file);
    updateFileRow();
    m_setting = false;
}

QString PruneScopeField::value() const
{
    const QString choice = m_choice->currentData().toString();
    const QString file = m_file->text().trimmed();
    return choice == kSensitivity && !file.isEmpty() ? choice + QLatin1Char(':') + file : choice;
}

void PruneScopeField::updateFileRow()
{
    const bool sensitivity = m_choice->currentData().toString() == kSensitivity;
    m_file->setVisible(sensitivity);
    m_browse->setVisible(sensitivity);
}

} // namespace leantune
