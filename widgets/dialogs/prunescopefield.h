#pragma once

#include <QWidget>

class QComboBox;
class QLineEdit;
class QToolButton;

namespace leantune {

// The run dialog's pruning scope (prune_scope): a choice, and for "sensitivity" the scan the
// per-layer targets come from (a sensitivity.json; empty: the starting run's own). Its value is the
// field's text: "global", "layer", "sensitivity" or "sensitivity:FILE".
class PruneScopeField : public QWidget {
    Q_OBJECT
public:
    explicit PruneScopeField(QWidget *parent = nullptr);

    QComboBox *comboBox() const { return m_choice; } // item data: the choice
    QLineEdit *fileEdit() const { return m_file; }
    void setValue(const QString &text);
    QString value() const;

Q_SIGNALS:
    void changed(); // the user changed the choice or the file (not emitted by setValue)

private:
    void updateFileRow();

    QComboBox *m_choice;
    QLineEdit *m_file;
    QToolButton *m_browse;
    bool m_setting = false;
};

} // namespace leantune
