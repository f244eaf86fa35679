#pragma once

#include "config/runconfig.h"

#include <QObject>
#include <QSet>
#include <QString>

#include <functional>
#include <vector>

class QWidget;

namespace leantune {

// Binds widgets to rows of the run's field table (run/runfields.h), so a form shows and reads a
// RunConfig through the fields' own text and parsers: show() puts each field's canonical text
// (RunField::get) into its widget, read() parses each widget's value back (RunField::set). Knows
// QLineEdit, QSpinBox, QDoubleSpinBox (NumberSpinBox for exact values), QCheckBox, QComboBox (item
// data: the field's text), PruningScheduleEditor and StartFromField (init). The widgets belong to
// their parent, not to this.
class RunFieldBinder : public QObject {
    Q_OBJECT
public:
    explicit RunFieldBinder(QObject *parent = nullptr);

    // Binds WIDGET, or when null a new editor for the field's type (a spin box, a check box, a
    // combo box of the field's choices, a line edit; the seed's takes digits only) made a child of
    // PARENT. The widget's object name becomes KEY and its tool tip the field's help.
    QWidget *bind(const QString &key, QWidget *widget, QWidget *parent = nullptr);
    QWidget *widget(const QString &key) const; // null when KEY is not bound

    // Shows CONFIG's bound fields. A value a widget cannot hold (shown as something else) is left
    // out of read() until the widget is edited, so it is never changed silently; unshown() lists
    // them.
    void show(const RunConfig &config);
    QStringList unshown() const;
    bool isShowing() const { return m_showing; }
    // Parses every bound widget into CONFIG (the others stay); false + "key: reason" of the first
    // widget whose text the field does not accept (that field stays too).
    bool read(RunConfig &config, QString *error = nullptr) const;

    // The label of a choice in a combo box (nicer names for some); the choice itself otherwise.
    static QString choiceLabel(const QString &key, const QString &choice);

Q_SIGNALS:
    void edited(const QString &key); // a bound widget changed, other than by show()

private:
    struct Binding {
        QString key;
        QWidget *widget;
        std::function<void(const QString &)> show;
        std::function<QString()> text;
    };
    std::vector<Binding> m_bindings;
    QSet<QString> m_unshown;
    bool m_showing = false;
};

} // namespace leantune
