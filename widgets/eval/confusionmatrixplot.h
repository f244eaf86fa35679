#pragma once

#include <QStringList>
#include <QVector>
#include <QWidget>

#include <functional>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;

namespace leantune {

// A confusion matrix as a heat map (QCustomPlot's colour map): true classes down the left,
// predicted classes along the bottom, each cell's value written in it. Counts and rates use a
// white-to-blue scale; a difference of two matrices uses a diverging red-white-blue scale centred
// on 0 (red: lower). Hovering shows toolTipAt(); a left click on a cell emits cellClicked; the
// context menu saves the matrix as PNG, PDF or CSV. GUI thread only.
class ConfusionMatrixPlot : public QWidget {
    Q_OBJECT
public:
    enum class Mode { Counts, Rates, Difference };

    explicit ConfusionMatrixPlot(QWidget *parent = nullptr);

    // VALUES is [true][predicted], square, one row per class. Rates and differences are 0..1 and
    // -1..1 and are written as percent and points.
    void setMatrix(const QStringList &classes, const QVector<QVector<double>> &values, Mode mode);
    void clear();
    // The tool-tip text of a cell; the default names the classes and the value.
    void setToolTipProvider(std::function<QString(int label, int predicted)> provider);

    QStringList classes() const { return m_classes; }
    QVector<QVector<double>> values() const { return m_values; }
    Mode mode() const { return m_mode; }
    QString toolTipAt(int label, int predicted) const;
    // The cell under POS (plot widget coordinates), or false.
    bool cellAt(const QPoint &pos, int *label, int *predicted) const;
    QPoint cellCenter(int label, int predicted) const; // in plot widget coordinates
    QCustomPlot *plot() const { return m_plot; }
    // Saves the matrix; the format follows the suffix: .png, .pdf or .csv (the values, rates and
    // differences as fractions). False + *error otherwise.
    bool save(const QString &path, QString *error = nullptr) const;
    QString cellText(int label, int predicted) const; // what the cell shows

Q_SIGNALS:
    void cellClicked(int label, int predicted);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void showContextMenu(const QPoint &pos);

    QCustomPlot *m_plot;
    QCPColorMap *m_map;
    QCPColorScale *m_scale;
    QStringList m_classes;
    QVector<QVector<double>> m_values;
    Mode m_mode = Mode::Counts;
    std::function<QString(int, int)> m_toolTip;
};

} // namespace leantune
