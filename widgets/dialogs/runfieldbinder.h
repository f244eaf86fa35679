#pragma once

#include "config/runconfig.h"

#include <QObject>
#include <QSet>
#include <QString>

#include <cstddef>
#include <functional>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QWidget;

namespace leantune {

class PruneScopeField;
class PruningScheduleEditor;
class StartFromField;

// Binds widgets to rows of the run's field table (config/runfields.h), so a form shows and reads a
// RunConfig through the fields' own text and parsers: show() puts each field's canonical text
// (RunField::get) into its widget, read() parses each widget's value back (RunField::set). The
// widgets belong to their parent, not to this.
//
// A bound widget is set up from its row: its object name becomes the key, its tool tip the field's
// help; a spin box ends at the row's maximum and starts at 0 or at the row's minimum when that is
// lower (a value under the range, typed or shown, stays visible and the field's check says what is
// wrong, instead of the box snapping back); an empty combo box gets the row's choices; a seed's
// line edit takes digits only.
class RunFieldBinder : public QObject {
    Q_OBJECT
public:
    explicit RunFieldBinder(QObject *parent = nullptr);

    // Binds WIDGET to KEY and returns it. W is (or derives from) one of QLineEdit, QSpinBox (Int),
    // QDoubleSpinBox (Double; NumberSpinBox for exact values), QCheckBox (Bool), QComboBox (item
    // data: the field's text), PruningScheduleEditor (prune), PruneScopeField (prune_scope) and
    // StartFromField (init).
    template <typename W> W *bind(const QString &key, W *widget)
    {
        attach(key, widget);
        return widget;
    }
    // A new W, a child of PARENT, bound to KEY.
    template <typename W> W *add(const QString &key, QWidget *parent)
    {
        return bind(key, new W(parent));
    }
    // A new editor for the field's type, a child of PARENT, bound to KEY: a QSpinBox (Int), a
    // NumberSpinBox (Double), a QCheckBox (Bool), a QComboBox (Choice), else a QLineEdit.
    QWidget *add(const QString &key, QWidget *parent);
    QWidget *bind(const QString &key, std::nullptr_t, QWidget *parent) { return add(key, parent); }
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
    // One per widget type: how it shows and reads the field's text, and its change signal.
    void attach(const QString &key, QLineEdit *w);
    void attach(const QString &key, QSpinBox *w);
    void attach(const QString &key, QDoubleSpinBox *w);
    void attach(const QString &key, QCheckBox *w);
    void attach(const QString &key, QComboBox *w);
    void attach(const QString &key, PruningScheduleEditor *w);
    void attach(const QString &key, PruneScopeField *w);
    void attach(const QString &key, StartFromField *w);
    void keep(Binding binding);
    void changed(const QString &key); // a widget's change signal

    std::vector<Binding> m_bindings;
    QSet<QString> m_unshown;
    bool m_showing = false;
};

} // namespace leantune
