#pragma once
// Saving a chart to a file, the same way for every chart: PNG or PDF chosen by the file name's
// suffix, at least a readable size however small the widget is on screen.

#include <QPoint>
#include <QSize>
#include <QString>

#include <functional>

class QCustomPlot;
class QWidget;

namespace leantune {

// Writes PLOT to PATH as PNG or PDF (by suffix), at least MINIMUM in size. False + *error on
// another suffix ("choose a .png or .pdf file name") or a failed write.
bool savePlotFile(QCustomPlot *plot, const QString &path, QSize minimum, QString *error);

// The chart's context menu at POS (in PLOT's coordinates): "Save chart as PNG or PDF...", a file
// dialog starting at DEFAULTNAME, and the failure, if any, as a tool tip.
void showSavePlotMenu(QWidget *owner, QCustomPlot *plot, const QPoint &pos,
    const QString &defaultName, QSize minimum);

// While the mouse moves over PLOT, shows TEXTAT(position in PLOT) as its tool tip, hidden where
// the text is empty (mouse tracking is turned on).
void followPlotToolTips(QCustomPlot *plot, std::function<QString(const QPoint &)> textAt);

} // namespace leantune
