#pragma once

#include <QDoubleSpinBox>

namespace leantune {

// A QDoubleSpinBox that holds any double in its range exactly and shows it as the shortest text
// that reads back as the same value (0.05, 1e-06), so a configuration value passes through
// unchanged. QDoubleSpinBox rounds to decimals() on setValue(): the decimals are set to the most it
// allows.
class NumberSpinBox : public QDoubleSpinBox {
    Q_OBJECT
public:
    explicit NumberSpinBox(QWidget *parent = nullptr);

    QString textFromValue(double value) const override;
    double valueFromText(const QString &text) const override;
    QValidator::State validate(QString &text, int &pos) const override;
};

} // namespace leantune
