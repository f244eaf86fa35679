#include "widgets/dialogs/runfieldbinder.h"

#include "widgets/dialogs/numberspinbox.h"
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

#include <limits>

namespace leantune {

namespace {

QWidget *newEditor(const RunField &f, QWidget *parent)
{
    switch (f.type) {
    case RunField::Type::Int: {
        auto *box = new QSpinBox(parent);
        box->setRange(0, std::numeric_limits<int>::max());
        return box;
    }
    case RunField::Type::Double:
        return new NumberSpinBox(parent);
    case RunField::Type::Bool:
        return new QCheckBox(parent);
    case RunField::Type::Choice: {
        auto *box = new QComboBox(parent);
        for (const QString &choice : f.choices)
            box->addItem(RunFieldBinder::choiceLabel(f.key, choice), choice);
        return box;
    }
    case RunField::Type::Seed: { // 0 .. 2^64 − 1; a larger number fails the field's parser
        auto *edit = new QLineEdit(parent);
        edit->setValidator(new QRegularExpressionValidator(
            QRegularExpression(QStringLiteral("[0-9]{1,20}")), edit));
        return edit;
    }
    case RunField::Type::Text:
    case RunField::Type::Numbers:
    case RunField::Type::Size:
        break;
    }
    return new QLineEdit(parent);
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
        { QStringLiteral("prune_granularity/weight"), QT_TR_NOOP("Single weights") },
        { QStringLiteral("prune_granularity/channel"),
            QT_TR_NOOP("Whole channels (removed at export)") },
        { QStringLiteral("channels/1"), QT_TR_NOOP("1 (grayscale)") },
        { QStringLiteral("channels/3"), QT_TR_NOOP("3 (RGB)") },
    };
    const char *label = labels.value(key % QLatin1Char('/') % choice);
    return label ? tr(label) : choice;
}

QWidget *RunFieldBinder::bind(const QString &key, QWidget *w, QWidget *parent)
{
    const RunField *f = findRunField(key);
    Q_ASSERT(f);
    if (!w)
        w = newEditor(*f, parent);
    w->setObjectName(key);
    w->setToolTip(f->help);
    Binding b { key, w, {}, {} };
    const auto changed = [this, key] {
        if (m_showing)
            return;
        m_unshown.remove(key);
        Q_EMIT edited(key);
    };
    if (auto *e = qobject_cast<QLineEdit *>(w)) {
        b.show = [e](const QString &t) { e->setText(t); };
        b.text = [e] { return e->text(); };
        connect(e, &QLineEdit::textChanged, this, changed);
    } else if (auto *d = qobject_cast<QDoubleSpinBox *>(w)) {
        b.show = [d](const QString &t) { d->setValue(t.toDouble()); };
        b.text = [d] { return QString::number(d->value(), 'g', QLocale::FloatingPointShortest); };
        connect(d, &QDoubleSpinBox::valueChanged, this, changed);
    } else if (auto *i = qobject_cast<QSpinBox *>(w)) {
        b.show = [i](const QString &t) { i->setValue(t.toInt()); };
        b.text = [i] { return QString::number(i->value()); };
        connect(i, &QSpinBox::valueChanged, this, changed);
    } else if (auto *c = qobject_cast<QCheckBox *>(w)) {
        b.show = [c](const QString &t) { c->setChecked(t == QLatin1String("true")); };
        b.text = [c] { return c->isChecked() ? QStringLiteral("true") : QStringLiteral("false"); };
        connect(c, &QCheckBox::toggled, this, changed);
    } else if (auto *c = qobject_cast<QComboBox *>(w)) {
        b.show = [c](const QString &t) { // a value without an item (an unknown model) gets one
            if (c->findData(t) < 0)
                c->addItem(t, t);
            c->setCurrentIndex(c->findData(t));
        };
        b.text = [c] { return c->currentData().toString(); };
        connect(c, &QComboBox::currentIndexChanged, this, changed);
    } else if (auto *s = qobject_cast<PruningScheduleEditor *>(w)) {
        b.show = [s](const QString &t) { s->setSpec(t); };
        b.text = [s] { return s->spec(); };
        connect(s, &PruningScheduleEditor::changed, this, changed);
    } else if (auto *s = qobject_cast<StartFromField *>(w)) {
        b.show = [s](const QString &t) { s->setPath(t); };
        b.text = [s] { return s->path(); };
        connect(s, &StartFromField::changed, this, changed);
    }
    Q_ASSERT(b.show);
    m_bindings.push_back(std::move(b));
    return w;
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
