#include "widgets/charts/plotfile.h"

#include "widgets/charts/qcp.h"

#include <QCoreApplication>
#include <QCursor>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMouseEvent>
#include <QToolTip>

#include <algorithm>

namespace leantune {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("leantune::PlotFile", text);
}

} // namespace

bool savePlotFile(QCustomPlot *plot, const QString &path, QSize minimum, QString *error)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    const int w = std::max(plot->width(), minimum.width());
    const int h = std::max(plot->height(), minimum.height());
    bool ok = false;
    if (suffix == QLatin1String("pdf")) {
        ok = plot->savePdf(path, w, h);
    } else if (suffix == QLatin1String("png")) {
        ok = plot->savePng(path, w, h);
    } else {
        if (error)
            *error = tr("choose a .png or .pdf file name");
        return false;
    }
    if (!ok && error)
        *error = tr("cannot write %1").arg(path);
    return ok;
}

void showSavePlotMenu(
    QWidget *owner, QCustomPlot *plot, const QPoint &pos, const QString &defaultName, QSize minimum)
{
    QMenu menu(owner);
    menu.addAction(tr("Save chart as PNG or PDF..."), owner, [=] {
        const QString path = QFileDialog::getSaveFileName(
            owner, tr("Save chart"), defaultName, tr("PNG image (*.png);;PDF document (*.pdf)"));
        if (path.isEmpty())
            return;
        QString error;
        if (!savePlotFile(plot, path, minimum, &error))
            QToolTip::showText(QCursor::pos(), error, owner);
    });
    menu.exec(plot->mapToGlobal(pos));
}

void followPlotToolTips(QCustomPlot *plot, std::function<QString(const QPoint &)> textAt)
{
    plot->setMouseTracking(true);
    QObject::connect(plot, &QCustomPlot::mouseMove, plot, [plot, textAt](QMouseEvent *e) {
        const QString text = textAt(e->position().toPoint());
        if (!text.isEmpty())
            QToolTip::showText(e->globalPosition().toPoint(), text, plot);
        else
            QToolTip::hideText();
    });
}

} // namespace leantune
