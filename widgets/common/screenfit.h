#pragma once

#include <QRect>
#include <QSize>

class QWidget;

namespace leantune {

// Room the window manager's frame takes around a top-level window (title bar and borders): a
// window is not framed before it is shown, so its first size leaves this much free.
inline constexpr QSize kWindowFrameAllowance(16, 48);

// PREFERRED bounded to AVAILABLE (a screen's available geometry) less the frame allowance.
QSize fittedWindowSize(const QSize &preferred, const QRect &available);

// The available geometry of the screen WINDOW is on (the primary screen before it has one).
QRect availableScreenGeometry(const QWidget *window);

// Resizes the top-level WINDOW to PREFERRED bounded to its screen (but not below its minimum size
// hint), and moves it inside that screen when it would stick out.
void fitToScreen(QWidget *window, const QSize &preferred);

} // namespace leantune
