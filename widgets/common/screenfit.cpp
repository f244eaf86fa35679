#include "widgets/common/screenfit.h"

#include <QGuiApplication>
#include <QScreen>
#include <QWidget>

#include <algorithm>

namespace leantune {

QSize fittedWindowSize(const QSize &preferred, const QRect &available)
{
    if (!available.isValid())
        return preferred;
    return preferred.boundedTo(
        (available.size() - kWindowFrameAllowance).expandedTo(QSize(200, 150)));
}

QRect availableScreenGeometry(const QWidget *window)
{
    QScreen *screen = window ? window->screen() : nullptr;
    if (!screen)
        screen = QGuiApplication::primaryScreen();
    return screen ? screen->availableGeometry() : QRect();
}

void fitToScreen(QWidget *window, const QSize &preferred)
{
    const QRect available = availableScreenGeometry(window);
    // Never below the window's own minimum: on a screen smaller than that, the top-left stays in.
    window->resize(fittedWindowSize(preferred, available).expandedTo(window->minimumSizeHint()));
    if (!available.isValid())
        return;
    // Keep the frame's top-left inside the screen, so the title bar can be reached.
    QRect frame(window->pos(), window->size() + kWindowFrameAllowance);
    if (!available.contains(frame)) {
        frame.moveLeft(std::clamp(frame.left(), available.left(),
            std::max(available.left(), available.right() + 1 - frame.width())));
        frame.moveTop(std::clamp(frame.top(), available.top(),
            std::max(available.top(), available.bottom() + 1 - frame.height())));
        window->move(frame.topLeft());
    }
}

} // namespace leantune
