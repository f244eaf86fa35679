#pragma once

#include <QString>

class QHBoxLayout;
class QLineEdit;
class QWidget;

namespace leantune {

// EDIT with a "..." button beside it that picks a folder (an existing one when MUSTEXIST, else a
// new name); typed or pasted paths lose stray blanks when editing finishes. The row is for a form.
QHBoxLayout *folderRow(QWidget *parent, QLineEdit *edit, const QString &caption, bool mustExist);

} // namespace leantune
