#pragma once

#include <QPair>
#include <QString>
#include <QVector>
#include <QWidget>

namespace leantune {

// A model's most probable classes as horizontal bars: one row per class (name, a bar as long as its
// probability, the probability in percent), in the order given. The row of the image's label, when
// known, is marked (bold, labelMark()). Paints only; GUI thread.
class ClassBars : public QWidget {
    Q_OBJECT
public:
    explicit ClassBars(QWidget *parent = nullptr);

    // ENTRIES: class name and probability (0..1), most probable first. LABEL: the image's class, or
    // empty when not known.
    void setEntries(const QVector<QPair<QString, double>> &entries, const QString &label = {});
    const QVector<QPair<QString, double>> &entries() const { return m_entries; }
    QString label() const { return m_label; }

    static QString labelMark(); // after the label's class name: " (label)"

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    int rowHeight() const;

    QVector<QPair<QString, double>> m_entries;
    QString m_label;
};

} // namespace leantune
