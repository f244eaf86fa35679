#include "widgets/dialogs/folderrow.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QToolButton>

namespace leantune {

QHBoxLayout *folderRow(QWidget *parent, QLineEdit *edit, const QString &caption, bool mustExist)
{
    auto *browse = new QToolButton(parent);
    browse->setText(QStringLiteral("..."));
    browse->setToolTip(caption);
    auto *row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    QObject::connect(browse, &QToolButton::clicked, edit, [edit, parent, caption, mustExist] {
        const QString dir = mustExist
            ? QFileDialog::getExistingDirectory(parent, caption, edit->text())
            : QFileDialog::getSaveFileName(
                parent, caption, edit->text(), QString(), nullptr, QFileDialog::ShowDirsOnly);
        if (!dir.isEmpty())
            edit->setText(dir);
    });
    // Typed or pasted paths lose stray blanks; set paths are shown as they are.
    QObject::connect(
        edit, &QLineEdit::editingFinished, edit, [edit] { edit->setText(edit->text().trimmed()); });
    return row;
}

} // namespace leantune
