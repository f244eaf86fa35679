#include "widgets/predict/predictdialog.h"

#include "export/onnxmodel.h"
#include "train/evaluator.h"
#include "widgets/common/screenfit.h"
#include "widgets/dataset/thumbnailloader.h"
#include "widgets/predict/classbars.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <climits>

namespace leantune {

namespace {
constexpr int kPicture = 256; // the shown image's box, pixels
constexpr int kIcon = 48;
} // namespace

PredictDialog::PredictDialog(QWidget *parent)
    : QDialog(parent)
{
    setObjectName(QStringLiteral("predictDialog"));
    setWindowTitle(tr("Predict"));
    auto *layout = new QVBoxLayout(this);

    auto *modelRow = new QHBoxLayout;
    m_models = new QComboBox(this);
    m_models->setObjectName(QStringLiteral("predictModel"));
    m_models->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_models->setMinimumContentsLength(30);
    m_models->setToolTip(tr("A run from the history, or an exported model file"));
    m_browse = new QPushButton(tr("Model file..."), this);
    m_browse->setToolTip(tr("A file written by Export (ONNX, int8 ONNX or LibTorch .pt)"));
    modelRow->addWidget(new QLabel(tr("Predict with:"), this));
    modelRow->addWidget(m_models, 1);
    modelRow->addWidget(m_browse);
    layout->addLayout(modelRow);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("predictMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_message->setStyleSheet(
        QStringLiteral("QLabel { background: #fdecea; color: #8a1c1c; border: 1px solid #e0a0a0; "
                       "border-radius: 4px; padding: 6px; }"));
    m_message->hide();
    layout->addWidget(m_message);
    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 0);
    m_busy->setFormat(tr("Predicting..."));
    m_busy->setTextVisible(true);
    m_busy->hide();
    layout->addWidget(m_busy);

    auto *split = new QSplitter(Qt::Horizontal, this);
    m_list = new QListWidget(split);
    m_list->setObjectName(QStringLiteral("predictImages"));
    m_list->setIconSize(QSize(kIcon, kIcon));
    m_list->setMinimumWidth(160);
    auto *result = new QWidget(split);
    auto *resultLayout = new QVBoxLayout(result);
    resultLayout->setContentsMargins(6, 0, 0, 0);
    m_picture = new QLabel(result);
    m_picture->setAlignment(Qt::AlignCenter);
    m_picture->setMinimumSize(kPicture / 2, kPicture / 2);
    m_picture->setFrameShape(QFrame::StyledPanel);
    m_caption = new QLabel(result);
    m_caption->setObjectName(QStringLiteral("predictCaption"));
    m_caption->setWordWrap(true);
    m_caption->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_bars = new ClassBars(result);
    resultLayout->addWidget(m_picture, 1);
    resultLayout->addWidget(m_caption);
    resultLayout->addWidget(m_bars);
    split->addWidget(m_list);
    split->addWidget(result);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_browse, &QPushButton::clicked, this, &PredictDialog::chooseModelFile);
    connect(m_models, qOverload<int>(&QComboBox::activated), this, [this] { start(); });
    connect(m_list, &QListWidget::currentRowChanged, this, [this](int row) {
        m_current = row;
        showCurrent();
    });
    connect(&m_watcher, &QFutureWatcherBase::finished, this, &PredictDialog::onDone);
    fitToScreen(this, QSize(720, 520));
}

PredictDialog::~PredictDialog() = default;

void PredictDialog::setModels(const QVector<PredictModel> &models)
{
    const QString chosen = model();
    const QSignalBlocker block(m_models);
    m_models->clear();
    for (const PredictModel &m : models) {
        m_models->addItem(m.name, m.path);
        m_models->setItemData(
            m_models->count() - 1, QDir::toNativeSeparators(m.path), Qt::ToolTipRole);
    }
    if (!chosen.isEmpty())
        setModel(chosen);
}

void PredictDialog::setModel(const QString &path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    int i = m_models->findData(absolute);
    if (i < 0)
        i = m_models->findData(path);
    if (i < 0) {
        m_models->addItem(QFileInfo(path).fileName(), absolute);
        i = m_models->count() - 1;
        m_models->setItemData(i, QDir::toNativeSeparators(absolute), Qt::ToolTipRole);
    }
    const QSignalBlocker block(m_models);
    m_models->setCurrentIndex(i);
}

QString PredictDialog::model() const
{
    return m_models->currentData().toString();
}

void PredictDialog::setDataSet(const QString &dataRoot, const QStringList &classes)
{
    m_dataRoot = dataRoot.isEmpty() ? QString() : QFileInfo(dataRoot).absoluteFilePath();
    m_dataClasses = classes;
}

void PredictDialog::predict(const QStringList &images)
{
    m_images.clear();
    for (const QString &image : images)
        m_images << QFileInfo(image).absoluteFilePath();
    m_pictures.clear();
    m_predictions.clear();
    {
        const QSignalBlocker block(m_list);
        m_list->clear();
        for (const QString &image : std::as_const(m_images)) { // class folder / file
            const QFileInfo info(image);
            m_list->addItem(info.dir().dirName() + QLatin1Char('/') + info.fileName());
            m_list->item(m_list->count() - 1)->setToolTip(QDir::toNativeSeparators(image));
        }
        m_current = m_images.isEmpty() ? -1 : 0;
        m_list->setCurrentRow(m_current);
    }
    m_list->setVisible(m_images.size() > 1);
    setWindowTitle(m_images.size() == 1 ? tr("Predict: %1").arg(QFileInfo(m_images[0]).fileName())
                                        : tr("Predict: %n image(s)", nullptr, m_images.size()));
    showCurrent();
    start();
}

bool PredictDialog::isBusy() const
{
    return m_watcher.isRunning();
}

QString PredictDialog::messageText() const
{
    return m_message->isVisibleTo(this) ? m_message->text() : QString();
}

void PredictDialog::setCurrentImage(int index)
{
    m_list->setCurrentRow(index); // calls showCurrent()
    m_current = index;
    showCurrent();
}

QString PredictDialog::labelOf(
    const QString &path, const QString &dataRoot, const QStringList &classes)
{
    if (dataRoot.isEmpty())
        return {};
    const QFileInfo info(path);
    const QDir folder = info.absoluteDir();
    const QString name = folder.dirName();
    QDir parent = folder;
    if (!parent.cdUp()
        || QDir::cleanPath(parent.absolutePath()) != QDir::cleanPath(QDir(dataRoot).absolutePath()))
        return {};
    return classes.contains(name) ? name : QString();
}

void PredictDialog::showMessage(const QString &message)
{
    m_message->setText(message);
    m_message->setVisible(!message.isEmpty());
}

void PredictDialog::chooseModelFile()
{
    const QString from = QFileInfo(model()).isDir() ? model() : QFileInfo(model()).absolutePath();
    const QString file = QFileDialog::getOpenFileName(
        this, tr("Predict with a model file"), from, tr("Models (*.onnx *.pt);;All files (*)"));
    if (file.isEmpty())
        return;
    setModel(file);
    start();
}

void PredictDialog::start()
{
    m_predictions.clear();
    showCurrent();
    if (m_images.isEmpty())
        return;
    if (model().isEmpty()) {
        showMessage(tr("Choose a model to predict with: a run from the history (finish one first) "
                       "or an exported model file (Model file...)."));
        return;
    }
    showMessage({});
    m_busy->show();
    m_watcher.setFuture(QtConcurrent::run(
        &PredictDialog::run, model(), m_images, m_dataRoot, m_dataClasses, ++m_generation));
}

PredictDialog::Outcome PredictDialog::run(const QString &model, const QStringList &images,
    const QString &dataRoot, const QStringList &dataClasses, quint64 generation)
{
    Outcome o;
    o.generation = generation;
    for (const QString &image : images)
        o.pictures << ThumbnailLoader::decode(image, QSize(kPicture, kPicture));
    // Every class of each image (the engine keeps at most as many as the model has).
    EvaluateOptions options;
    const std::optional<QVector<Prediction>> rows = isOnnxModelFile(model)
        ? predictOnnx(model, images, INT_MAX, options, &o.error)
        : predictImages(model, images, INT_MAX, options, &o.error);
    if (!rows)
        return o;
    const bool fromData = std::any_of(images.begin(), images.end(),
        [&](const QString &image) { return !labelOf(image, dataRoot, dataClasses).isEmpty(); });
    if (fromData && !rows->isEmpty()) {
        QStringList classes;
        for (const auto &c : rows->front().top)
            classes << c.first;
        QStringList sorted = dataClasses;
        std::sort(classes.begin(), classes.end());
        std::sort(sorted.begin(), sorted.end());
        if (classes != sorted) {
            o.error = classes.size() != sorted.size()
                ? tr("%1 has %2 classes but the data set %3 has %4 (%5): choose a model trained "
                     "on this data")
                      .arg(QDir::toNativeSeparators(model))
                      .arg(classes.size())
                      .arg(QDir::toNativeSeparators(dataRoot))
                      .arg(dataClasses.size())
                      .arg(dataClasses.join(QStringLiteral(", ")))
                : tr("the classes of %1 (%2) are not those of the data set %3 (%4): choose a "
                     "model trained on this data")
                      .arg(QDir::toNativeSeparators(model), classes.join(QStringLiteral(", ")),
                          QDir::toNativeSeparators(dataRoot),
                          dataClasses.join(QStringLiteral(", ")));
            return o;
        }
    }
    o.rows = *rows;
    return o;
}

void PredictDialog::onDone()
{
    const Outcome o = m_watcher.result();
    if (o.generation != m_generation)
        return; // an older request; the newer one is running
    m_busy->hide();
    m_pictures = o.pictures;
    for (int i = 0; i < m_pictures.size() && i < m_list->count(); ++i)
        if (!m_pictures[i].isNull())
            m_list->item(i)->setIcon(QPixmap::fromImage(
                m_pictures[i].scaled(kIcon, kIcon, Qt::KeepAspectRatio, Qt::FastTransformation)));
    m_predictions = o.rows;
    showMessage(o.error.isEmpty() ? QString() : tr("Cannot predict: %1").arg(o.error));
    showCurrent();
    Q_EMIT predictionDone(o.error.isEmpty());
}

void PredictDialog::showCurrent()
{
    const int i = m_current;
    const QImage picture = m_pictures.value(i);
    if (picture.isNull()) {
        m_picture->setPixmap(QPixmap());
        m_picture->setText(
            i >= 0 && i < m_pictures.size() ? tr("This file does not decode") : QString());
    } else {
        // Small images (28 px Fashion-MNIST) are scaled up with crisp pixels.
        m_picture->setPixmap(QPixmap::fromImage(
            picture.width() < kPicture / 2 && picture.height() < kPicture / 2
                ? picture.scaled(kPicture, kPicture, Qt::KeepAspectRatio, Qt::FastTransformation)
                : picture));
    }
    const QString path = m_images.value(i);
    const QString label = labelOf(path, m_dataRoot, m_dataClasses);
    if (i < 0 || i >= m_predictions.size()) {
        m_bars->setEntries({});
        m_caption->setText(path.isEmpty()
                ? QString()
                : QStringLiteral("<b>%1</b>").arg(QFileInfo(path).fileName().toHtmlEscaped()));
        return;
    }
    const Prediction &p = m_predictions[i];
    m_bars->setEntries(p.top.mid(0, kShownClasses), label);
    QString caption
        = tr("<b>%1</b><br>predicted <b>%2</b> (%3 %)")
              .arg(QFileInfo(path).fileName().toHtmlEscaped(), p.predicted.toHtmlEscaped())
              .arg(100.0 * p.confidence, 0, 'f', 1);
    if (!label.isEmpty())
        caption += label == p.predicted
            ? tr(" · label %1 ✓").arg(label.toHtmlEscaped())
            : tr(" · label <span style=\"color:#b00020\">%1</span>").arg(label.toHtmlEscaped());
    m_caption->setText(caption);
    m_caption->setToolTip(QDir::toNativeSeparators(path));
}

} // namespace leantune
