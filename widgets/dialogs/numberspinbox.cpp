#include "widgets/dialogs/numberspinbox.h"

#include <QLocale>

#include <cfloat>

namespace leantune {

namespace {

QLocale numberLocale(const QLocale &locale)
{
    QLocale l = locale;
    l.setNumberOptions(QLocale::OmitGroupSeparator);
    return l;
}

} // namespace

NumberSpinBox::NumberSpinBox(QWidget *parent)
    : QDoubleSpinBox(parent)
{
    setDecimals(DBL_MAX_10_EXP + DBL_DIG);
}

QString NumberSpinBox::textFromValue(double value) const
{
    return numberLocale(locale()).toString(value, 'g', QLocale::FloatingPointShortest);
}

double NumberSpinBox::valueFromText(const QString &text) const
{
    return numberLocale(locale()).toDouble(text.trimmed());
}

QValidator::State NumberSpinBox::validate(QString &text, int &) const
{
    const QString t = text.trimmed();
    bool ok = false;
    const double v = numberLocale(locale()).toDouble(t, &ok);
    if (ok)
        return v >= minimum() && v <= maximum() ? QValidator::Acceptable : QValidator::Intermediate;
    // A number being typed: "", "-", "0.", "1e", "1e-".
    static const QString partial = QStringLiteral("0123456789eE+-");
    for (QChar c : t) {
        if (!partial.contains(c) && c != locale().decimalPoint().front())
            return QValidator::Invalid;
    }
    return QValidator::Intermediate;
}

} // namespace leantune
