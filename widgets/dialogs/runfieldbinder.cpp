#include "widgets/dialogs/runfieldbinder.h"

#include "widgets/dialogs/numberspinbox.h"
#include "widgets/dialogs/prunescopefield.h"
#include "widgets/dialogs/pruningscheduleeditor.h"
#include "widgets/dialogs/startfromfield.h"
#include "config/runfields.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHash>
#include <QLineEdit>
#include <QLocale>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QStringBuilder>

#include <algorithm>
#include <limits>
#include <utility>

namespace leantune {

namespace {

const RunField &fieldOf(const QString &key)
{
    const RunField *f = findRunField(key);
    Q_ASSERT_X(f, "RunFieldBinder", "no such field");
    return *f;
}

// The spin box's ends: the row's maximum, and 0 or the row's minimum when lower (see the class).
template <typename T> std::pair<T, T> spinRange(const RunField &f)
{
    const double lowest = double(std::numeric_limits<T>::lowest());
    const double highest = double(std::numeric_limits<T>::max());
    const double min
        = f.min > -std::numeric_limits<double>::infinity() ? std::min(0.0, f.min) : 0.0;
    const double max = f.max < std::numeric_limits<double>::infinity() ? f.max : highest;
    return { T(std::max(min, lowest)), T(std::min(max, highest)) };
}

} // namespace

RunFieldBinder::RunFieldBinder(QObject *parent)
    : QObject(parent)
{
}

QString RunFieldBinder::choiceLabel(const QString &key, const QString &choice)
{
    static const QHash<QString, const char *> labels {
        { QStringLiteral("optimizer/sgd"), QT_TR_NOOP("SGD with momentum") },
        { QStringLiteral("optimizer/adam"), QT_TR_NOOP("Adam") },
        { QStringLiteral("lr_schedule/cosine"), QT_TR_NOOP("cosine decay") },
        { QStringLiteral("precision/bf16"), QT_TR_NOOP("bf16 (CUDA autocast)") },
        { QStringLiteral("precision/fp16"), QT_TR_NOOP("fp16 (CUDA autocast, loss scaling)") },
        { QStringLiteral("memory_format/auto"),
            QT_TR_NOOP("Auto (the faster one for this model and device)") },
        { QStringLiteral("memory_format/contiguous"), QT_TR_NOOP("Contiguous (NCHW)") },
        { QStringLiteral("memory_format/channels-last"), QT_TR_NOOP("Channels-last (NHWC)") },
        { QStringLiteral("prune_scope/layer"), QT_TR_NOOP("Each layer to the target") },
        { QStringLiteral("prune_scope/global"), QT_TR_NOOP("Across layers (LAMP)") },
        { QStringLiteral("prune_scope/sensitivity"),
            QT_TR_NOOP("Each layer its own target from a sensitivity scan") },
        { QStringLiteral("prune_granularity/weight"), QT_TR_NOOP("Single weights") },
        { QStringLiteral("prune_granularity/channel"),
            QT_TR_NOOP("Whole channels (removed at export)") },
        { QStringLiteral("channels/1"), QT_TR_NOOP("1 (grayscale)") },
        { QStringLiteral("channels/3"), QT_TR_NOOP("3 (RGB)") },
    };
    const char *label = labels.value(key % QLatin1Char('/') % choice);
    return label ? tr(label) : choice;
}

QWidget *RunFieldBinder::add(const QString &key, QWidget *parent)
{
    switch (fieldOf(key).type) {
    case RunField::Type::Int:
        return add<QSpinBox>(key, parent);
    case RunField::Type::Double:
        return add<NumberSpinBox>(key, parent);
    case RunField::Type::Bool:
        return add<QCheckBox>(key, parent);
    case RunField::Type::Choice:
        return add<QComboBox>(key, parent);
    case RunField::Type::Seed:
    case RunField::Type::Text:
    case RunField::Type::Numbers:
    case RunField::Type::Size:
        break;
    }
    return add<QLineEdit>(key, parent);
}

void RunFieldBinder::changed(const QString &key)
{
    if (m_showing)
        return;
    m_unshown.remove(key);
    Q_EMIT edited(key);
}

void RunFieldBinder::keep(Binding b)
{
    const RunField &f = fieldOf(b.key);
    b.widget->setObjectName(f.key);
    b.widget->setToolTip(f.help);
    m_bindings.push_back(std::move(b));
}

void RunFieldBinder::attach(const QString &key, QLineEdit *e)
{
    // A seed is 0 .. 2^64 − 1; a larger number fails the field's parser.
    if (fieldOf(key).type == RunField::Type::Seed && !e->validator())
        e->setValidator(
            new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,20}")), e));
    keep({ key, e, [e](const QString &t) { e->setText(t); }, [e] { return e->text(); } });
    connect(e, &QLineEdit::textChanged, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, QSpinBox *i)
{
    const RunField &f = fieldOf(key);
    Q_ASSERT_X(f.type == RunField::Type::Int, "RunFieldBinder", "a QSpinBox needs an Int field");
    const auto [min, max] = spinRange<int>(f);
    i->setRange(min, max);
    keep({ key, i, [i](const QString &t) { i->setValue(t.toInt()); },
        [i] { return QString::number(i->value()); } });
    connect(i, &QSpinBox::valueChanged, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, QDoubleSpinBox *d)
{
    const RunField &f = fieldOf(key);
    Q_ASSERT_X(f.type == RunField::Type::Double, "RunFieldBinder",
        "a QDoubleSpinBox needs a Double field");
    const auto [min, max] = spinRange<double>(f);
    d->setRange(min, max);
    keep({ key, d, [d](const QString &t) { d->setValue(t.toDouble()); },
        [d] { return QString::number(d->value(), 'g', QLocale::FloatingPointShortest); } });
    connect(d, &QDoubleSpinBox::valueChanged, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, QCheckBox *c)
{
    Q_ASSERT_X(fieldOf(key).type == RunField::Type::Bool, "RunFieldBinder",
        "a QCheckBox needs a Bool field");
    keep({ key, c, [c](const QString &t) { c->setChecked(t == QLatin1String("true")); },
        [c] { return c->isChecked() ? QStringLiteral("true") : QStringLiteral("false"); } });
    connect(c, &QCheckBox::toggled, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, QComboBox *c)
{
    if (c->count() == 0) {
        for (const QString &choice : fieldOf(key).choices)
            c->addItem(choiceLabel(key, choice), choice);
    }
    keep({ key, c,
        [c](const QString &t) { // a value without an item (an unknown model) gets one
            if (c->findData(t) < 0)
                c->addItem(t, t);
            c->setCurrentIndex(c->findData(t));
        },
        [c] { return c->currentData().toString(); } });
    connect(c, &QComboBox::currentIndexChanged, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, PruningScheduleEditor *s)
{
    keep({ key, s, [s](const QString &t) { s->setSpec(t); }, [s] { return s->spec(); } });
    connect(s, &PruningScheduleEditor::changed, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, PruneScopeField *s)
{
    if (s->comboBox()->count() == 0) {
        for (const QString &choice : fieldOf(key).choices)
            s->comboBox()->addItem(choiceLabel(key, choice), choice);
    }
    keep({ key, s, [s](const QString &t) { s->setValue(t); }, [s] { return s->value(); } });
    // The choice's box is named after the field too, as every other choice's box is.
    s->comboBox()->setObjectName(key);
    s->comboBox()->setToolTip(s->toolTip());
    connect(s, &PruneScopeField::changed, this, [this, key] { changed(key); });
}

void RunFieldBinder::attach(const QString &key, StartFromField *s)
{
    keep({ key, s, [s](const QString &t) { s->setPath(t); }, [s] { return s->path(); } });
    connect(s, &StartFromField::changed, this, [this, key] { changed(key); });
}

QWidget *RunFieldBinder::widget(const QString &key) const
{
    for (const Binding &b : m_bindings) {
        if (b.key == key)
            return b.widget;
    }
    return nullptr;
}

void RunFieldBinder::show(const RunConfig &config)
{
    m_unshown.clear();
    m_showing = true;
    for (const Binding &b : m_bindings) {
        const QString text = findRunField(b.key)->get(config);
        b.show(text);
        if (b.text() != text) { // a bug in the form: say so, and keep the value
            qWarning("RunFieldBinder: %s '%s' is shown as '%s'; the value is kept",
                qPrintable(b.key), qPrintable(text), qPrintable(b.text()));
            m_unshown.insert(b.key);
        }
    }
    m_showing = false;
}

QStringList RunFieldBinder::unshown() const
{
    QStringList keys(m_unshown.begin(), m_unshown.end());
    keys.sort();
    return keys;
}

bool RunFieldBinder::read(RunConfig &config, QString *error) const
{
    bool ok = true;
    for (const Binding &b : m_bindings) {
        QString reason;
        if (m_unshown.contains(b.key) || findRunField(b.key)->set(config, b.text(), &reason) || !ok)
            continue;
        ok = false;
        if (error)
            *error = QStringLiteral("%1: %2").arg(b.key, reason);
    }
    return ok;
}

} // namespace leantune
